/**
 * `cleanupCorruptImage`: a `CreateContainerError` from a corrupt or partial image. The node's agent removes the
 * broken image record (never blobs another image shares) and the pod restarts; if the next start fails to pull,
 * the controller sees a pull failure and `salvageImage` takes over.
 */
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { acts } from './acts.js';
import { AGENT_OP, KUBE } from './activity-options.js';
import { SA } from './search-attributes.js';
import { failureType } from './salvage-transfer.js';
import type { CleanupInput, SalvagePhase } from './types.js';

/** Result of `cleanupCorruptImage`. */
export interface CleanupResult {
  outcome: 'cleaned' | 'opt-in-withdrawn';
  removed: boolean;
  podRestarted: boolean;
}

function phase(p: SalvagePhase): void {
  upsertSearchAttributes([{ key: SA.SalvagePhase, value: p }]);
}

/** Removes the corrupt image record `input.imageRef` on `input.node` and restarts the pod if it has an owner. */
export async function cleanupCorruptImage(input: CleanupInput): Promise<CleanupResult> {
  const { workflowId } = workflowInfo();
  phase('CheckingOptIn');
  try {
    await acts(KUBE, `Re-check opt-in of ${input.pod.namespace}/${input.pod.name}`).checkOptIn(input.pod);
  } catch (err) {
    if (failureType(err) !== 'OptInWithdrawn') throw err;
    phase('OptInWithdrawn');
    return { outcome: 'opt-in-withdrawn', removed: false, podRestarted: false };
  }
  phase('Cleaning');
  const detail = input.message ? ` (${input.message})` : '';
  await acts(KUBE, `ImageCorrupt event on ${input.pod.name}`).emitEvent({
    pod: input.pod,
    type: 'Warning',
    reason: 'ImageCorrupt',
    message: `Image ${input.imageRef} (${input.digest}) on node ${input.node} is corrupt or incomplete${detail}; removing its image record so the next start pulls or salvages it cleanly`,
    workflowId,
  });
  const { removed } = await acts(AGENT_OP, `Remove ${input.imageRef} on ${input.node}`).removeImageRecord({
    node: input.node,
    ref: input.imageRef,
  });
  phase('Restarting');
  const restart = await acts(KUBE, `Restart ${input.pod.name} if owned`).deleteOwnedPod({ pod: input.pod });
  phase('Completed');
  return { outcome: 'cleaned', removed, podRestarted: restart.deleted };
}
