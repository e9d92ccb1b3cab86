/**
 * Activities of the last-copy scan (`scanLastCopies`, docs/architecture.md): list the images running pods use, count the
 * nodes holding each, ask each source registry whether it still has the manifest, and warn on a pod using an
 * image at risk. The backup push reuses `pushBackup` (activities/registry.ts).
 */
import { cancellationSignal } from '@temporalio/activity';
import type { ImageInUse, PodUse } from '../common/last-copy.js';
import type { ActivityDeps } from './deps.js';
import { eventMessage } from './events.js';
import { mapFailures } from './failures.js';
import { countImageHolders, type HolderCount, type HolderQuery } from './scan-holders.js';
import { listImagesInUse } from './scan-pods.js';
import { checkRegistryCopies, type RegistryAnswer, type RegistryQuery } from './scan-registry.js';

export type { HolderAnswer, HolderCount, HolderQuery } from './scan-holders.js';
export type { RegistryAnswer, RegistryQuery } from './scan-registry.js';

/** Event reason of the last-copy warning. MAINTENANCE: docs/cli-reference.md lists it. */
export const LAST_COPY_REASON = 'ImageLastCopy';

/** Input of `warnLastCopy`. */
export interface LastCopyWarning {
  /** The pod the event is recorded on (one of the pods using the image). */
  pod: PodUse;
  image: string;
  digest: string;
  holders: string[];
  minCopies: number;
  /** Other pods using it, counted in the message. */
  podCount: number;
  workflowId: string;
}

/** The specific part of the warning: what is lost where, and what to do. */
export function lastCopyMessage(w: LastCopyWarning): string {
  const where =
    w.holders.length === 0
      ? 'no node with a reachable tote agent holds a complete copy'
      : `only ${w.holders.length} node${w.holders.length === 1 ? '' : 's'} hold${w.holders.length === 1 ? 's' : ''} a complete copy: [${w.holders.join(', ')}]`;
  const others = w.podCount > 1 ? ` (used by ${w.podCount} running pods)` : '';
  return `Image ${w.image} (${w.digest}) is gone from its registry and ${where}, at most --min-copies ${w.minCopies}${others}; losing those nodes loses the image`;
}

/** Builds the scan activities. */
export function createScanActivities(deps: ActivityDeps): {
  listImagesInUse(input: { namespace?: string }): Promise<{
    images: ImageInUse[];
    backupRegistry: string | null;
  }>;
  countImageHolders(input: { images: HolderQuery[] }): Promise<HolderCount>;
  checkRegistryCopies(input: { images: RegistryQuery[]; insecure: boolean }): Promise<RegistryAnswer[]>;
  warnLastCopy(input: LastCopyWarning): Promise<void>;
} {
  return {
    /** Images running pods use, grouped by digest; and the backup registry, when configured. */
    listImagesInUse: (input) => listImagesInUse(deps, input),
    /** Nodes holding a complete copy of each image (digests of tag-only references resolved on the way). */
    countImageHolders: (input) => countImageHolders(deps, input),
    /** Whether each image's source registry still serves its manifest. */
    checkRegistryCopies: (input) => checkRegistryCopies(deps, input),
    /** Records the `ImageLastCopy` Warning on one pod using the image. */
    async warnLastCopy(input: LastCopyWarning): Promise<void> {
      const { namespace, name, uid } = input.pod;
      await mapFailures(`event ${LAST_COPY_REASON}`, () =>
        deps.kube.createEvent(
          {
            pod: { namespace, name, uid },
            type: 'Warning',
            reason: LAST_COPY_REASON,
            action: 'Scanned',
            message: eventMessage('Warning', lastCopyMessage(input), input.workflowId),
          },
          { signal: cancellationSignal() },
        ),
      );
    },
  };
}
