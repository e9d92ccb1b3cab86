/**
 * The front half of `salvageImage`: locate and report the detection, check that a salvage is possible, wait for
 * an approval, and re-check opt-in before anything is changed.
 */
import { condition, setHandler } from '@temporalio/workflow';
import type { SalvagePolicy, SourceInventory } from '../activities/types.js';
import { acts } from './acts.js';
import { INVENTORY, KUBE } from './activity-options.js';
import { firstFailedPrecondition } from './preconditions.js';
import type { SalvageRun } from './salvage-run.js';
import { approveSignal, rejectSignal } from './salvage-signals.js';
import { failureType } from './salvage-transfer.js';
import type { DecisionArgs, SalvageResult } from './types.js';

/**
 * Locates the holders of the digest and records them in the progress. While holders kubelet reports (or the
 * target) have agents that do not answer, the activity fails retryably, so an agent restart costs a few retries
 * (INVENTORY: about 90 s in all) instead of a NoSourceNode failure.
 */
export async function locate(run: SalvageRun): Promise<SourceInventory> {
  const { digest, node } = run.input;
  const inv = await acts(INVENTORY, `Locate ${digest.slice(0, 19)}`).locateSources({
    digest,
    targetNode: node,
    waitForHolders: true,
  });
  run.progress.holders = inv.sources.map((s) => s.node);
  return inv;
}

/** Reports the detection: a Warning event on the pod, the detection counter, the `detected` webhook. */
export async function reportDetection(
  run: SalvageRun,
  inv: SourceInventory,
  policy: SalvagePolicy,
): Promise<void> {
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

/**
 * Fails the workflow when nothing can be salvaged: with the first of the preconditions `planSalvage` also lists
 * (`preconditions.ts`: invalid digest, no source, too large, no agent on the target).
 */
export async function ensureSalvageable(
  run: SalvageRun,
  inv: SourceInventory,
  policy: SalvagePolicy,
): Promise<void> {
  const failed = firstFailedPrecondition({
    digest: run.input.digest,
    node: run.input.node,
    inventory: inv,
    maxImageSizeBytes: policy.maxImageSizeBytes,
  });
  if (failed) await run.fail(failed.type, failed.message);
}

/** Waits for `approve` or `reject`; false (with a Warning event) on reject or timeout. */
export async function awaitApproval(
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
export async function stillOptedIn(run: SalvageRun): Promise<boolean> {
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

/** The answer of an opt-in re-check asked ahead of time. */
export type OptInAnswer = { ok: boolean } | { err: unknown };

/** The answer, or a fresh re-check without one; other failures are raised. */
export async function optedIn(answer: Promise<OptInAnswer> | undefined, run: SalvageRun): Promise<boolean> {
  const a = await (answer ?? stillOptedIn(run).then((ok) => ({ ok })));
  if ('err' in a) throw a.err;
  return a.ok;
}

/** Auto mode: re-check opt-in (already asked on the fast path), report the detection, keep it in flight. */
export async function autoStart(
  run: SalvageRun,
  inv: SourceInventory,
  policy: SalvagePolicy,
  answer?: Promise<OptInAnswer>,
): Promise<boolean> {
  run.setPhase('CheckingOptIn');
  if (!answer) {
    const [opted] = await Promise.all([stillOptedIn(run), reportDetection(run, inv, policy)]);
    return opted;
  }
  if (!(await optedIn(answer, run))) return false;
  run.detection = reportDetection(run, inv, policy);
  return true;
}

/**
 * Approve mode: report the detection, fail at once when nothing can be salvaged, wait for a decision; then
 * re-check opt-in (hours may have passed). A rejection or timeout ends the salvage with its result.
 */
export async function approveGate(
  run: SalvageRun,
  inv: SourceInventory,
  policy: SalvagePolicy,
  answer?: Promise<OptInAnswer>,
): Promise<boolean | SalvageResult> {
  await Promise.all([reportDetection(run, inv, policy), answer]);
  await ensureSalvageable(run, inv, policy);
  const d = await awaitApproval(run, policy.approveTimeoutMs);
  if (d !== 'approved') {
    return { outcome: d === 'rejected' ? 'rejected' : 'approval-timed-out', progress: run.progress };
  }
  run.setPhase('CheckingOptIn');
  return stillOptedIn(run);
}
