/**
 * The transfer step of `salvageImage`: try each source in order (each with its own retries), verify on the
 * target, and fall back to the next source when one fails. A too-large image stops at once.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, log } from '@temporalio/workflow';
import type { SourceCandidate, SourceInventory, TransferResult } from '../activities/types.js';
import { canonicalName, parseImageReference, withDigest } from '../common/image-ref.js';
import { acts } from './acts.js';
import { INVENTORY, transferOptions } from './activity-options.js';
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

async function tryOne(
  run: SalvageRun,
  src: SourceCandidate,
  target: string,
  { attempts, maxImageSizeBytes }: TransferLimits,
): Promise<TransferResult | string> {
  const { input } = run;
  const source = { node: src.node, address: src.endpoint ?? '' };
  const targetAgent = { node: input.node, address: target };
  const result = await acts(
    transferOptions(attempts),
    `Transfer ${input.imageRef} ${src.node} → ${input.node}`,
  ).transferImage({
    digest: input.digest,
    imageNames: recordNames(input.imageRef, input.digest),
    source,
    target: targetAgent,
    maxImageSizeBytes,
  });
  run.setPhase('Verifying');
  const v = await acts(INVENTORY, `Verify ${input.digest.slice(0, 19)} on ${input.node}`).verifyImage({
    digest: input.digest,
    target: targetAgent,
  });
  return v.complete ? result : `the image is still incomplete on ${input.node} after the transfer`;
}

/** Runs the transfers; returns the first verified one, or fails the workflow when every source failed. */
export async function transferWithFallback(
  run: SalvageRun,
  inv: SourceInventory,
  limits: TransferLimits,
): Promise<TransferOutcome> {
  const errors: string[] = [];
  for (const src of inv.sources) {
    Object.assign(run.progress, { source: src.node, bytesDone: 0, blobsCommitted: 0 });
    run.progress.sourcesTried.push(src.node);
    run.progress.attempts++;
    run.setPhase('Transferring');
    try {
      const r = await tryOne(run, src, inv.targetEndpoint ?? '', limits);
      if (typeof r !== 'string') return { source: src.node, result: r };
      errors.push(`${src.node}: ${r}`);
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (failureType(err) === 'ImageTooLarge') return run.fail('ImageTooLarge', messageOf(err));
      errors.push(`${src.node}: ${messageOf(err)}`);
      log.warn('source failed, trying the next one', { source: src.node, error: messageOf(err) });
    }
    run.progress.error = errors[errors.length - 1];
  }
  return run.fail('AllSourcesFailed', `every source failed: ${errors.join('; ')}`);
}
