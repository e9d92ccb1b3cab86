/**
 * `salvageImage`: detect → (approve) → opt-in re-check → locate → size check → transfer with fallback → verify →
 * SalvageRecord → restart the pod if owned → backup push (non-fatal) → webhooks. One run per (digest, node).
 */
import {
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SalvagePolicy, SourceInventory, TransferProgress } from '../activities/types.js';
import { acts } from './acts.js';
import { INVENTORY, KUBE, PUSH } from './activity-options.js';
import { SalvageRun } from './salvage-run.js';
import { failureType, messageOf, transferWithFallback, type TransferOutcome } from './salvage-transfer.js';
import type { DecisionArgs, SalvageInput, SalvageProgress, SalvageResult } from './types.js';

/** Approves a salvage waiting in `approve` mode (`tote approve`, the Web UI). */
export const approveSignal = defineSignal<[DecisionArgs]>('approve');
/** Rejects a salvage waiting in `approve` mode. */
export const rejectSignal = defineSignal<[DecisionArgs]>('reject');
/** Phase, source, bytes done/total and attempts of the salvage. */
export const progressQuery = defineQuery<SalvageProgress>('progress');
/** Live progress from the transfer activity. MAINTENANCE: activities/types.ts TRANSFER_PROGRESS_SIGNAL. */
export const transferProgressSignal = defineSignal<[TransferProgress]>('transferProgress');

async function locate(run: SalvageRun): Promise<SourceInventory> {
  const { digest, node } = run.input;
  const inv = await acts(INVENTORY, `Locate ${digest.slice(0, 19)}`).locateSources({
    digest,
    targetNode: node,
  });
  run.progress.holders = inv.sources.map((s) => s.node);
  return inv;
}

async function reportDetection(run: SalvageRun, inv: SourceInventory, policy: SalvagePolicy): Promise<void> {
  const { input } = run;
  const what = `Registry pull failed for ${run.image} in container ${input.container ?? '?'} (${input.reason})`;
  const extraCounters = ['detected_failures' as const];
  const event =
    inv.sources.length > 0 || inv.targetHasImage
      ? run.event(
          'Warning',
          'ImageSalvageable',
          `${what}; the digest is cached on nodes [${run.progress.holders.join(', ')}]${inv.targetHasImage ? ` and already complete on ${input.node}` : ''}; mode ${policy.mode}`,
          { extraCounters },
        )
      : run.event(
          'Warning',
          'ImageResolvedUncached',
          `${what}; no node with a reachable tote agent holds a complete copy`,
          { extraCounters },
        );
  await Promise.all([event, run.webhook('detected', { holders: run.progress.holders, mode: policy.mode })]);
}

/** Fails the workflow when nothing can be salvaged: no source, too large, or no agent on the target. */
async function ensureSalvageable(
  run: SalvageRun,
  inv: SourceInventory,
  policy: SalvagePolicy,
): Promise<void> {
  if (inv.targetHasImage) return;
  if (inv.sources.length === 0)
    await run.fail('NoSourceNode', `no node holds a complete copy of ${run.input.digest}`);
  const size = Math.max(...inv.sources.map((s) => s.sizeBytes));
  if (policy.maxImageSizeBytes > 0 && size > policy.maxImageSizeBytes) {
    await run.fail(
      'ImageTooLarge',
      `image is ${size} bytes, over the limit of ${policy.maxImageSizeBytes} bytes (--max-image-size)`,
    );
  }
  if (!inv.targetEndpoint)
    await run.fail('NoTargetAgent', `no ready tote agent on target node ${run.input.node}`);
}

/** Waits for `approve` or `reject`; false (with a Warning event) on reject or timeout. */
async function awaitApproval(
  run: SalvageRun,
  timeoutMs: number,
): Promise<'approved' | 'rejected' | 'timed-out'> {
  let decision: { approved: boolean; args: DecisionArgs } | undefined;
  setHandler(approveSignal, (args) => void (decision ??= { approved: true, args }));
  setHandler(rejectSignal, (args) => void (decision ??= { approved: false, args }));
  run.setPhase('AwaitingApproval');
  const decided = await condition(() => decision !== undefined, timeoutMs);
  if (decided && decision?.approved) return 'approved';
  const why = decided
    ? `rejected by ${decision?.args.by ?? 'an operator'}${decision?.args.note ? `: ${decision.args.note}` : ''}`
    : `no approval within ${Math.round(timeoutMs / 1000)}s; nothing was changed (send the approve signal in time, or use mode auto)`;
  run.progress.error = why;
  run.setPhase(decided ? 'Rejected' : 'ApprovalTimedOut');
  await Promise.all([
    run.event('Warning', 'ImageSalvageFailed', `Salvage of ${run.image} onto node ${run.input.node} ${why}`),
    run.webhook('salvage_failed', { error: why, type: decided ? 'Rejected' : 'ApprovalTimedOut' }),
  ]);
  return decided ? 'rejected' : 'timed-out';
}

/** Re-checks opt-in; false when it was withdrawn. */
async function stillOptedIn(run: SalvageRun): Promise<boolean> {
  try {
    // An operator's explicit `tote salvage` stands in for the workload's auto-salvage annotation.
    await acts(KUBE, `Re-check opt-in of ${run.input.pod.namespace}/${run.input.pod.name}`).checkOptIn(
      run.input.pod,
      { requireWorkload: !run.input.requestedBy },
    );
    return true;
  } catch (err) {
    if (failureType(err) !== 'OptInWithdrawn') throw err;
    return false;
  }
}

async function afterTransfer(
  run: SalvageRun,
  t: TransferOutcome,
  policy: SalvagePolicy,
): Promise<SalvageResult> {
  const { input, workflowId } = run;
  run.setPhase('Recording');
  const rec = await acts(KUBE, `SalvageRecord for ${input.pod.name}`).writeSalvageRecord({
    workflowId,
    runId: workflowInfo().runId,
    pod: input.pod,
    imageRef: input.imageRef,
    digest: input.digest,
    sourceNode: t.source,
    targetNode: input.node,
    bytes: t.result.bytesTotal,
    durationMs: t.result.durationMs,
  });
  await run.event(
    'Normal',
    'ImageSalvaged',
    `Image ${run.image} salvaged from node ${t.source} to node ${input.node} (${t.result.bytesDone} bytes moved, ${t.result.blobsSkipped} blobs already there)`,
    { durationSeconds: t.result.durationMs / 1000 },
  );
  run.setPhase('Restarting');
  const restart = await acts(KUBE, `Restart ${input.pod.name} if owned`).deleteOwnedPod({ pod: input.pod });
  const pushedTo = policy.backup ? await pushBackup(run) : undefined;
  run.setPhase('Notifying');
  await run.webhook('salvaged', { source: t.source, bytes: t.result.bytesTotal, record: rec.name });
  const progress = run.finish('Completed');
  return {
    outcome: 'salvaged',
    source: t.source,
    bytes: t.result.bytesTotal,
    record: rec.name,
    podRestarted: restart.deleted,
    pushedTo,
    progress,
  };
}

/** The backup push: non-fatal, a failure becomes a Warning event and a `push_failed` webhook. */
async function pushBackup(run: SalvageRun): Promise<string | undefined> {
  const { input } = run;
  run.setPhase('Pushing');
  try {
    const r = await acts(PUSH, `Push ${input.imageRef} to the backup registry`).pushBackup({
      digest: input.digest,
      imageRef: input.imageRef,
      node: input.node,
    });
    await Promise.all([
      run.event('Normal', 'ImagePushed', `Image ${run.image} pushed to ${r.targetRef}`, {
        durationSeconds: r.durationMs / 1000,
      }),
      run.webhook('pushed', { targetRef: r.targetRef }),
    ]);
    return r.targetRef;
  } catch (err) {
    if (isCancellation(err)) throw err;
    const why = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    await Promise.all([
      run.event(
        'Warning',
        'ImagePushFailed',
        `Backup push of ${run.image} failed (the salvage itself succeeded): ${why}`,
      ),
      run.webhook('push_failed', { error: why }),
    ]);
    return undefined;
  }
}

async function salvage(run: SalvageRun): Promise<SalvageResult> {
  const { input } = run;
  const [policy, first] = await Promise.all([
    acts(KUBE, `Policy for ${input.pod.namespace}`).loadPolicy(input.pod),
    locate(run),
  ]);
  run.progress.mode = policy.mode;
  let inv = first;
  if (policy.mode === 'detect-only') {
    await reportDetection(run, inv, policy);
    return { outcome: 'detected', progress: run.finish('Detected') };
  }
  if (policy.mode === 'approve') {
    await reportDetection(run, inv, policy);
    await ensureSalvageable(run, inv, policy);
    const d = await awaitApproval(run, policy.approveTimeoutMs);
    if (d !== 'approved')
      return { outcome: d === 'rejected' ? 'rejected' : 'approval-timed-out', progress: run.progress };
  }
  run.setPhase('CheckingOptIn');
  const [opted] = await Promise.all([
    stillOptedIn(run),
    policy.mode === 'auto' ? reportDetection(run, inv, policy) : undefined,
  ]);
  if (!opted) return { outcome: 'opt-in-withdrawn', progress: run.finish('OptInWithdrawn') };
  if (policy.mode === 'approve') {
    run.setPhase('Locating');
    inv = await locate(run);
  }
  await ensureSalvageable(run, inv, policy);
  if (inv.targetHasImage) {
    const restart = await acts(KUBE, `Restart ${input.pod.name} if owned`).deleteOwnedPod({ pod: input.pod });
    return { outcome: 'already-present', podRestarted: restart.deleted, progress: run.finish('Completed') };
  }
  const t = await transferWithFallback(run, inv, {
    attempts: policy.transferAttempts,
    maxImageSizeBytes: policy.maxImageSizeBytes,
  });
  return afterTransfer(run, t, policy);
}

/** Salvages `input.digest` onto `input.node` for `input.pod`. Workflow id: `salvage/<digest>/<node>`. */
export async function salvageImage(input: SalvageInput): Promise<SalvageResult> {
  const run = new SalvageRun(input);
  setHandler(progressQuery, () => run.progress);
  setHandler(transferProgressSignal, (p) => run.onTransferProgress(p));
  run.setPhase('Detecting');
  try {
    return await salvage(run);
  } catch (err) {
    if (run.progress.phase !== 'Failed' && !isCancellation(err)) {
      await run.reportFailure(failureType(err) ?? 'SalvageError', messageOf(err));
    }
    throw err;
  }
}
