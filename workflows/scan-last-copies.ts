/**
 * `scanLastCopies`: last-copy protection (docs/architecture.md). Lists the images running pods use, counts the nodes holding a
 * complete copy of each, asks each source registry (HEAD by digest) whether it still has the manifest, and for
 * every image gone from its registry and held by at most `minCopies` nodes: a Warning event on one pod using it,
 * and, with `backup` and a backup registry configured, a push of the image there through a holder's agent.
 * Started by `tote scan` (one run, waited for) or by the Schedule the worker keeps with `--scan-interval`.
 */
import { isCancellation, log, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { HolderAnswer, RegistryAnswer } from '../activities/index.js';
import {
  compareRows,
  isAtRisk,
  type ImageInUse,
  type ScanInput,
  type ScanReport,
  type ScanRow,
} from '../common/last-copy.js';
import { acts } from './acts.js';
import { INVENTORY, KUBE, LIVENESS_TIMEOUT, NON_RETRYABLE, PUSH } from './activity-options.js';
import { messageOf } from './salvage-transfer.js';

/** Counting asks every agent about every image: longer than a salvage's inventory on big clusters. */
const HOLDERS: ActivityOptions = { ...INVENTORY, startToCloseTimeout: '10m' };
/** HEADs never fail for registry reasons (those are `unknown`); retries only cover the worker itself. */
const REGISTRY_HEAD: ActivityOptions = {
  startToCloseTimeout: '5m',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { initialInterval: '1s', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
};
/** Listing every running pod of a big cluster takes longer than a single-object call; it heartbeats. */
const LIST_PODS: ActivityOptions = { ...KUBE, startToCloseTimeout: '2m', heartbeatTimeout: LIVENESS_TIMEOUT };
/** A scan tries each holder in turn, so each push gets fewer attempts than a salvage's. */
const SCAN_PUSH: ActivityOptions = { ...PUSH, retry: { ...PUSH.retry, maximumAttempts: 2 } };

/** What one at-risk image needs to be acted on. */
interface Protect {
  input: ScanInput;
  minCopies: number;
  backupRegistry: string | null;
  workflowId: string;
}

function rowOf(img: ImageInUse, held?: HolderAnswer, reg?: RegistryAnswer, minCopies = 1): ScanRow {
  const registry = reg?.copy ?? 'unknown';
  const holders = held?.holders ?? [];
  return {
    image: img.image,
    digest: held?.digest ?? img.digest ?? null,
    registry,
    ...(reg?.detail ? { registryDetail: reg.detail } : {}),
    holders,
    pods: img.pods.map((p) => `${p.namespace}/${p.name}`),
    podCount: img.podCount,
    atRisk: isAtRisk(registry, holders.length, minCopies),
    action: 'none',
  };
}

/** Why no push is attempted for an at-risk image, or undefined when one should be. */
function noPushReason(p: Protect, img: ImageInUse, row: ScanRow): string | undefined {
  if (!p.input.backup) return undefined;
  if (!p.backupRegistry) return 'not pushed: the worker has no --backup-registry';
  if (!img.allowed) return 'not pushed: no namespace using it allows tote (tote.dev/allow)';
  if (row.holders.length === 0) return 'not pushed: no node holds a complete copy to push from';
  return undefined;
}

/** Pushes from each holder in turn until one succeeds; records the outcome on the row and as an event. */
async function push(p: Protect, img: ImageInUse, row: ScanRow, digest: string): Promise<void> {
  const pod = img.pods[0];
  const errors: string[] = [];
  for (const node of row.holders) {
    try {
      const r = await acts(SCAN_PUSH, `Push ${img.image} from ${node} to the backup registry`).pushBackup({
        digest,
        imageRef: img.image,
        node,
      });
      Object.assign(row, { action: 'backed-up', backupRef: r.targetRef });
      if (pod)
        await event(
          p,
          pod,
          'Normal',
          `Image ${img.image} (${digest}) pushed to ${r.targetRef} by the last-copy scan`,
        );
      return;
    } catch (err) {
      if (isCancellation(err)) throw err;
      errors.push(`${node}: ${messageOf(err)}`);
    }
  }
  Object.assign(row, { action: 'push-failed', note: `push failed (${errors.join('; ')})` });
  if (pod)
    await event(p, pod, 'Warning', `Backup push of ${img.image} (${digest}) failed: ${errors.join('; ')}`);
}

async function event(
  p: Protect,
  pod: ImageInUse['pods'][number],
  type: 'Normal' | 'Warning',
  message: string,
): Promise<void> {
  const reason = type === 'Normal' ? 'ImagePushed' : 'ImagePushFailed';
  try {
    await acts(KUBE, `${reason} event on ${pod.name}`).emitEvent({
      pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid },
      type,
      reason,
      message,
      workflowId: p.workflowId,
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('event not recorded', { reason, error: messageOf(err) });
  }
}

/** Warns on the first pod using the image, then pushes it when asked and possible. */
async function protect(p: Protect, img: ImageInUse, row: ScanRow): Promise<void> {
  const pod = img.pods[0];
  const digest = row.digest;
  if (!pod || !digest) return;
  try {
    await acts(KUBE, `ImageLastCopy event on ${pod.name}`).warnLastCopy({
      pod,
      image: img.image,
      digest,
      holders: row.holders,
      minCopies: p.minCopies,
      podCount: img.podCount,
      workflowId: p.workflowId,
    });
    row.action = 'warned';
  } catch (err) {
    if (isCancellation(err)) throw err;
    row.note = `warning not recorded: ${messageOf(err)}`;
  }
  const why = noPushReason(p, img, row);
  if (why) row.note = why;
  else if (p.input.backup) await push(p, img, row, digest);
}

/** Scans the images of running pods for last copies; see the file comment. */
export async function scanLastCopies(input: ScanInput = {}): Promise<ScanReport> {
  const minCopies = input.minCopies ?? 1;
  const { workflowId } = workflowInfo();
  const where = input.namespace ? ` in ${input.namespace}` : '';
  const survey = await acts(LIST_PODS, `List images of running pods${where}`).listImagesInUse({
    namespace: input.namespace,
  });
  const n = survey.images.length;
  const held = await acts(HOLDERS, `Count the nodes holding ${n} images`).countImageHolders({
    images: survey.images.map(({ key, name, tag, digest }) => ({ key, name, tag, digest })),
  });
  const byKey = new Map(held.images.map((h) => [h.key, h]));
  const regs = await acts(REGISTRY_HEAD, `HEAD ${n} manifests on their registries`).checkRegistryCopies({
    images: survey.images.map((img) => ({
      key: img.key,
      image: img.image,
      digest: byKey.get(img.key)?.digest ?? img.digest ?? null,
    })),
    insecure: input.registryInsecure === true,
  });
  const regByKey = new Map(regs.map((r) => [r.key, r]));
  const p: Protect = { input, minCopies, backupRegistry: survey.backupRegistry, workflowId };
  const rows: ScanRow[] = [];
  for (const img of survey.images) {
    const row = rowOf(img, byKey.get(img.key), regByKey.get(img.key), minCopies);
    if (row.atRisk) await protect(p, img, row);
    rows.push(row);
  }
  return {
    workflowId,
    ...(input.namespace ? { namespace: input.namespace } : {}),
    minCopies,
    backupRegistry: survey.backupRegistry,
    unreachableNodes: held.unreachable,
    rows: rows.sort(compareRows),
  };
}
