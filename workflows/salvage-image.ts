/**
 * `salvageImage`: detect → (approve) → opt-in re-check → locate → size check → transfer with fallback → verify →
 * SalvageRecord → restart the pod if owned → backup push (non-fatal) → webhooks. One run per (digest, node).
 */
import { isCancellation, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import type { SalvagePolicy } from '../activities/types.js';
import { pullPolicyBlocksSalvage } from '../common/pull-policy.js';
import { acts } from './acts.js';
import { KUBE, PUSH } from './activity-options.js';
import { SalvageRun } from './salvage-run.js';
import { podJoinedSignal, progressQuery, transferProgressSignal } from './salvage-signals.js';
import {
  approveGate,
  autoStart,
  ensureSalvageable,
  locate,
  reportDetection,
  stillOptedIn,
  type OptInAnswer,
} from './salvage-start.js';
import { failureType, messageOf, transferWithFallback, type TransferOutcome } from './salvage-transfer.js';
import type { SalvageInput, SalvageResult } from './types.js';

export {
  approveSignal,
  podJoinedSignal,
  progressQuery,
  rejectSignal,
  transferProgressSignal,
} from './salvage-signals.js';

/**
 * Patch: the opt-in re-check runs with the policy and inventory reads, and in auto mode the detection report runs
 * alongside the transfer, so the first byte moves one round trip after the start instead of two.
 * MAINTENANCE: remove the old branch once no run started before this patch can still be open.
 */
export const FAST_START_PATCH = 'fast-start';

async function afterTransfer(
  run: SalvageRun,
  t: TransferOutcome,
  policy: SalvagePolicy,
): Promise<SalvageResult> {
  const { input, workflowId } = run;
  await run.detection;
  // Under imagePullPolicy: Always the restart (and the remedy's pull-policy switch, when opted in) comes first,
  // so the record says what was changed.
  const early = pullPolicyBlocksSalvage(input.pullPolicy) ? await run.restartPod() : undefined;
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
    ...(early?.pullPolicyChange ? { pullPolicyChange: early.pullPolicyChange } : {}),
  });
  await run.event(
    'Normal',
    'ImageSalvaged',
    `Image ${run.image} salvaged from node ${t.source} to node ${input.node} (${t.result.bytesDone} bytes moved, ${t.result.blobsSkipped} blobs already there)`,
    { durationSeconds: t.result.durationMs / 1000 },
  );
  run.setPhase('Restarting');
  const restart = early ?? (await run.restartPod());
  await run.restartJoined();
  const pushedTo = policy.backup ? await pushBackup(run) : undefined;
  run.setPhase('Notifying');
  await run.webhook('salvaged', { source: t.source, bytes: t.result.bytesTotal, record: rec.name });
  // Pods that joined during the push or the webhook.
  await run.restartJoined();
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
  // Started in the first workflow task with the reads below; its answer is used in auto mode only.
  const answer = patched(FAST_START_PATCH)
    ? stillOptedIn(run).then(
        (ok): OptInAnswer => ({ ok }),
        (err: unknown): OptInAnswer => ({ err }),
      )
    : undefined;
  const [policy, first] = await Promise.all([
    acts(KUBE, `Policy for ${input.pod.namespace}`).loadPolicy(input.pod),
    locate(run),
  ]);
  run.progress.mode = policy.mode;
  let inv = first;
  if (policy.mode === 'detect-only') {
    await Promise.all([reportDetection(run, inv, policy), answer]);
    return { outcome: 'detected', progress: run.finish('Detected') };
  }
  const opted =
    policy.mode === 'approve'
      ? await approveGate(run, inv, policy, answer)
      : await autoStart(run, inv, policy, answer);
  if (typeof opted !== 'boolean') return opted;
  if (!opted) {
    await run.detection;
    return { outcome: 'opt-in-withdrawn', progress: run.finish('OptInWithdrawn') };
  }
  if (policy.mode === 'approve') {
    run.setPhase('Locating');
    inv = await locate(run);
  }
  await ensureSalvageable(run, inv, policy);
  if (inv.targetHasImage) {
    await run.detection;
    const restart = await run.restartPod();
    await run.restartJoined();
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
  setHandler(podJoinedSignal, (p) => run.join(p));
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
