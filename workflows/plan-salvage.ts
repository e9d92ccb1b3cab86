/**
 * `planSalvage`: what a salvage of `digest` onto `node` would do, without doing it (`tote salvage --dry-run`).
 * It runs the same inventory as `salvageImage` (agents' containerd first, `Node.status.images` as a hint), reads
 * the policy the pod's namespace would get, and asks the first source and the target how many bytes would cross
 * the wire after dedup. Nothing is written, no event is emitted, no webhook is sent.
 */
import { ActivityFailure, ApplicationFailure, type ActivityOptions } from '@temporalio/workflow';
import type { PlanTransferInput, TransferPlan } from '../activities/plan.js';
import type { SalvagePolicy, SourceCandidate, SourceInventory } from '../activities/types.js';
import { acts } from './acts.js';
import { KUBE, LIVENESS_TIMEOUT, NON_RETRYABLE } from './activity-options.js';
import { failedPreconditions, VALID_DIGEST } from './preconditions.js';
import type { PodRef } from './types.js';

export type { TransferPlan } from '../activities/plan.js';

/** Input of `planSalvage`. */
export interface PlanInput {
  digest: string;
  /** The node the image would land on. */
  node: string;
  /** The pod, when there is one: its namespace's `tote.dev/mode` decides the mode shown. */
  pod?: PodRef;
}

/** What `planSalvage` returns. */
export interface SalvagePlan {
  digest: string;
  targetNode: string;
  /** The target's agent, when one answers. */
  targetEndpoint?: string;
  /** The target already holds the complete image: a salvage would only verify and restart the pod. */
  targetHasImage: boolean;
  /** Usable sources in the order a salvage tries them (complete copies; kubelet-hinted first). */
  sources: SourceCandidate[];
  /** Nodes with an incomplete copy, or only hinted by `Node.status.images` with no agent answering. */
  skipped: SourceCandidate[];
  /** The policy the salvage would run under, when a pod was given. */
  policy?: SalvagePolicy;
  /** The first source's transfer, when there is a source and a target agent. */
  transfer?: TransferPlan;
  /** Why a salvage would fail or not act, in words an operator can act on; empty when it would go ahead. */
  problems: string[];
}

/** Planning is interactive: a few quick attempts, then the answer (an operator is waiting). */
const PLAN: ActivityOptions = {
  startToCloseTimeout: '1m',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

function messageOf(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * The problems a salvage would meet: every precondition of `preconditions.ts` that does not hold (the real run
 * fails with the first of them, with the same message), then the detect-only mode, in which tote only reports.
 */
export function planProblems(
  input: Pick<PlanInput, 'digest' | 'node'>,
  inv: SourceInventory,
  opts: { policy?: SalvagePolicy; transfer?: TransferPlan },
): string[] {
  const failed = failedPreconditions({
    digest: input.digest,
    node: input.node,
    inventory: inv,
    maxImageSizeBytes: opts.policy?.maxImageSizeBytes ?? 0,
    ...(opts.transfer ? { imageBytes: opts.transfer.totalBytes } : {}),
  });
  const problems = failed.map((f) => f.message);
  if (opts.policy?.mode === 'detect-only')
    problems.push('the namespace is in detect-only mode: tote would only report');
  return problems;
}

async function planFirstSource(
  input: PlanInput,
  inv: SourceInventory,
  problems: string[],
): Promise<TransferPlan | undefined> {
  const best = inv.sources.find((s) => s.endpoint);
  if (inv.targetHasImage || !best?.endpoint || !inv.targetEndpoint) return undefined;
  const req: PlanTransferInput = {
    digest: input.digest,
    source: { node: best.node, address: best.endpoint },
    target: { node: input.node, address: inv.targetEndpoint },
  };
  try {
    return await acts(PLAN, `Plan ${best.node} → ${input.node}`).planTransfer(req);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    problems.push(`source ${best.node} could not describe the image: ${messageOf(err)}`);
    return undefined;
  }
}

/** Plans the salvage of `input.digest` onto `input.node`; reads only. */
export async function planSalvage(input: PlanInput): Promise<SalvagePlan> {
  // The inventory cannot be asked about a malformed digest: this precondition fails the plan at once.
  if (!VALID_DIGEST.holds(input)) {
    throw ApplicationFailure.nonRetryable(VALID_DIGEST.message(input), VALID_DIGEST.type);
  }
  const [inv, policy] = await Promise.all([
    acts(PLAN, `Locate ${input.digest.slice(0, 19)}`).locateSources({
      digest: input.digest,
      targetNode: input.node,
    }),
    input.pod ? acts(KUBE, `Policy for ${input.pod.namespace}`).loadPolicy(input.pod) : undefined,
  ]);
  const extra: string[] = [];
  const transfer = await planFirstSource(input, inv, extra);
  return {
    digest: input.digest,
    targetNode: input.node,
    ...(inv.targetEndpoint ? { targetEndpoint: inv.targetEndpoint } : {}),
    targetHasImage: inv.targetHasImage,
    sources: inv.sources,
    skipped: inv.skipped,
    ...(policy ? { policy } : {}),
    ...(transfer ? { transfer } : {}),
    problems: [...planProblems(input, inv, { policy, transfer }), ...extra],
  };
}
