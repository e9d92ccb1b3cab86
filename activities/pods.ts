/**
 * Pod restart: deleting a pod that has an owner makes its controller create a fresh one at once, which then finds
 * the image on the node instead of waiting out kubelet's pull back-off. An unowned pod is never deleted: nothing
 * would bring it back.
 */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from './deps.js';
import { mapFailures } from './failures.js';
import type { PodRef } from './types.js';

/** What `deleteOwnedPod` did. */
export interface RestartResult {
  deleted: boolean;
  /** Why nothing was deleted. */
  reason?: 'gone' | 'unowned' | 'replaced';
}

/** Builds the pod activities. */
export function createPodActivities(deps: ActivityDeps): {
  deleteOwnedPod(input: { pod: PodRef }): Promise<RestartResult>;
} {
  return {
    /** Deletes the pod if a controller owns it; the uid precondition protects a replacement with the same name. */
    async deleteOwnedPod({ pod }: { pod: PodRef }): Promise<RestartResult> {
      const signal = cancellationSignal();
      const meta = await mapFailures('read pod', () => deps.kube.getPod(pod, { signal }));
      if (!meta) return { deleted: false, reason: 'gone' };
      if (pod.uid && meta.uid && pod.uid !== meta.uid) return { deleted: false, reason: 'replaced' };
      if (meta.ownerReferences.length === 0) return { deleted: false, reason: 'unowned' };
      const deleted = await mapFailures('delete pod', () =>
        deps.kube.deletePod({ ...pod, uid: pod.uid ?? meta.uid }, { signal }),
      );
      return deleted ? { deleted } : { deleted, reason: 'gone' };
    },
  };
}
