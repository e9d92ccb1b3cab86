/**
 * The transfer step of `salvageImage`: try each source in order (each with its own retries), verify on the
 * target, and fall back to the next source when one fails. A too-large image stops at once.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, log, patched } from '@temporalio/workflow';
import type { SourceCandidate, SourceInventory, TransferResult } from '../activities/types.js';
import { canonicalName, parseImageReference, withDigest } from '../common/image-ref.js';
import { rankSources } from '../common/source-choice.js';
import { acts } from './acts.js';
import { AGENT_CALL, INVENTORY, transferOptions } from './activity-options.js';
import type { SalvageRun } from './salvage-run.js';

/** A transfer that ended verified on the target. */
export interface TransferOutcome {
  source: string;
  result: TransferResult;
}

/**
 * The image records the target creates, normalized as kubelet looks them up: `registry/repo:tag` (when the pod
 * names a tag) and `registry/repo@digest`. Empty (the agent then copies the source's names) if unparsable.
 */
export function recordNames(imageRef: string, digest: string): string[] {
  const parsed = parseImageReference(imageRef);
  if (!parsed.ok) return [];
  const { ref } = parsed;
  return [...(ref.tag !== undefined ? [`${canonicalName(ref)}:${ref.tag}`] : []), withDigest(ref, digest)];
}

/** The failure type of an activity failure, if it is an ApplicationFailure. */
export function failureType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

/** The message of the root cause of an activity failure. */
export function messageOf(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/** Limits of one transfer. */
export interface TransferLimits {
  attempts: number;
  maxImageSizeBytes: number;
}

/** Rounds of source choice before a salvage gives up; each round leaves out the holders that failed before. */
export const MAX_SOURCE_ROUNDS = 8;

/** Re-locating before every round after the first (fan-out); histories recorded before it replay without it. */
export const RELOCATE_PATCH = 'fanout-relocate-each-round';

/** The holder a failed transfer used, when the activity named it (`{ source }` in the failure's details). */
export function sourceOf(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return undefined;
  for (const d of cause.details ?? []) {
    const source = (d as { source?: unknown } | null)?.source;
    if (typeof source === 'string') return source;
  }
  return undefined;
}

/** A finished transfer: verified, or still incomplete on the target (`incomplete` says why). */
interface RoundResult {
  result: TransferResult;
  incomplete?: string;
}

async function tryOne(
  run: SalvageRun,
  candidates: SourceCandidate[],
  target: string,
  { attempts, maxImageSizeBytes }: TransferLimits,
): Promise<RoundResult> {
  const { input } = run;
  const first = candidates[0] as SourceCandidate;
  const targetAgent = { node: input.node, address: target };
  const result = await acts(
    transferOptions(attempts),
    `Transfer ${input.imageRef} ${candidates.length > 1 ? 'from the least busy holder' : first.node} → ${input.node}`,
  ).transferImage({
    digest: input.digest,
    imageNames: recordNames(input.imageRef, input.digest),
    source: { node: first.node, address: first.endpoint ?? '' },
    candidates,
    target: targetAgent,
    maxImageSizeBytes,
    attempts,
  });
  run.useSource(result.source);
  run.setPhase('Verifying');
  const v = await acts(AGENT_CALL, `Verify ${input.digest.slice(0, 19)} on ${input.node}`).verifyImage({
    digest: input.digest,
    target: targetAgent,
  });
  if (!v.complete) {
    return { result, incomplete: `the image is still incomplete on ${input.node} after the transfer` };
  }
  run.completeTransfer(result);
  return { result };
}

async function relocate(run: SalvageRun): Promise<SourceInventory> {
  const { digest, node } = run.input;
  const inv = await acts(INVENTORY, `Locate ${digest.slice(0, 19)} again`).locateSources({
    digest,
    targetNode: node,
  });
  run.progress.holders = inv.sources.map((s) => s.node);
  return inv;
}

/**
 * Runs the transfers; returns the first verified one, or fails the workflow when every source failed. Each round
 * hands the transfer every usable holder, least busy first (fan-out: nodes that completed serve too); the
 * activity takes the least busy one with a free slot. A holder that failed is left out of later rounds, and the
 * inventory is asked again before each later round (a dead source drops out, new holders come in).
 */
export async function transferWithFallback(
  run: SalvageRun,
  inv: SourceInventory,
  limits: TransferLimits,
): Promise<TransferOutcome> {
  const errors: string[] = [];
  const failed = new Set<string>();
  let current = inv;
  for (let round = 0; round < MAX_SOURCE_ROUNDS; round++) {
    if (round > 0 && patched(RELOCATE_PATCH)) current = await relocate(run);
    const candidates = rankSources(current.sources.filter((s) => s.endpoint && !failed.has(s.node)));
    const first = candidates[0];
    if (!first) break;
    run.beginTransfer(
      first.node,
      candidates.map((c) => c.node),
    );
    try {
      const r = await tryOne(run, candidates, current.targetEndpoint ?? '', limits);
      if (r.incomplete === undefined) return { source: r.result.source, result: r.result };
      errors.push(`${r.result.source}: ${r.incomplete}`);
      failed.add(r.result.source);
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (failureType(err) === 'ImageTooLarge') return run.fail('ImageTooLarge', messageOf(err));
      const source = sourceOf(err) ?? first.node;
      run.useSource(source);
      errors.push(`${source}: ${messageOf(err)}`);
      failed.add(source);
      log.warn('source failed, trying the next one', { source, error: messageOf(err) });
    }
    run.progress.error = errors[errors.length - 1];
  }
  if (errors.length === 0) {
    return run.fail(
      'NoSourceNode',
      `no holder of ${run.input.digest} serves peers (--max-concurrent-exports 0 on ${current.sources.map((s) => s.node).join(', ')})`,
    );
  }
  return run.fail('AllSourcesFailed', `every source failed: ${errors.join('; ')}`);
}
