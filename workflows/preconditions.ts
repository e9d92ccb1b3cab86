/**
 * What must hold for a salvage to go ahead: one list, read by `salvageImage` (`ensureSalvageable` fails with the
 * first precondition that does not hold, as a non-retryable failure of its type) and by `planSalvage`
 * (`tote salvage --dry-run` lists every one that does not hold, with the same message). Pure and deterministic:
 * workflow code calls it.
 *
 * In order:
 * 1. `InvalidImageReference`: the digest is `sha256:` and 64 lowercase hex characters (`common/digest.ts`).
 * 2. `NoSourceNode`: a node with a reachable agent holds a complete copy.
 * 3. `ImageTooLarge`: the image is not over `--max-image-size` (0: no limit).
 * 4. `NoTargetAgent`: the target node has a ready agent.
 * When the target already holds the complete image, 2–4 hold: nothing needs to move.
 */
import type { SourceInventory } from '../activities/types.js';
import { isDigest } from '../common/digest.js';

/** The failure type of each precondition. */
export type PreconditionType = 'InvalidImageReference' | 'NoSourceNode' | 'ImageTooLarge' | 'NoTargetAgent';

/** What the preconditions read. */
export interface SalvageFacts {
  digest: string;
  /** The node the image would land on. */
  node: string;
  inventory: SourceInventory;
  /** The policy's `maxImageSizeBytes`; 0 for no limit. */
  maxImageSizeBytes: number;
  /** The image's total size when it is known exactly (a planned transfer); else the largest source's report. */
  imageBytes?: number;
}

/** A precondition that does not hold. */
export interface PreconditionFailure {
  type: PreconditionType;
  message: string;
}

/** One precondition: when it holds, and what to say when it does not. */
export interface Precondition {
  readonly type: PreconditionType;
  readonly holds: (f: SalvageFacts) => boolean;
  readonly message: (f: SalvageFacts) => string;
}

/** The size the limit is checked against: 0 when unknown (no source reports one). */
function imageBytes(f: SalvageFacts): number {
  return f.imageBytes ?? Math.max(0, ...f.inventory.sources.map((s) => s.sizeBytes));
}

/** The first precondition, the only one that needs no inventory: `planSalvage` checks it before locating. */
export const VALID_DIGEST = {
  type: 'InvalidImageReference',
  holds: (f: Pick<SalvageFacts, 'digest'>) => isDigest(f.digest),
  message: (f: Pick<SalvageFacts, 'digest'>) =>
    `invalid digest "${f.digest}": not sha256: followed by 64 lowercase hex characters`,
} as const satisfies Precondition;

/** The preconditions, in the order `salvageImage` checks them. */
export const SALVAGE_PRECONDITIONS: readonly Precondition[] = [
  VALID_DIGEST,
  {
    type: 'NoSourceNode',
    holds: (f) => f.inventory.targetHasImage || f.inventory.sources.length > 0,
    message: (f) => `no node with a reachable tote agent holds a complete copy of ${f.digest}`,
  },
  {
    type: 'ImageTooLarge',
    holds: (f) =>
      f.inventory.targetHasImage || f.maxImageSizeBytes <= 0 || imageBytes(f) <= f.maxImageSizeBytes,
    message: (f) =>
      `image is ${imageBytes(f)} bytes, over the limit of ${f.maxImageSizeBytes} bytes (--max-image-size)`,
  },
  {
    type: 'NoTargetAgent',
    holds: (f) => f.inventory.targetHasImage || Boolean(f.inventory.targetEndpoint),
    message: (f) => `no ready tote agent on target node ${f.node}`,
  },
];

/** Every precondition that does not hold, in order; empty when a salvage can go ahead. */
export function failedPreconditions(f: SalvageFacts): PreconditionFailure[] {
  return SALVAGE_PRECONDITIONS.filter((p) => !p.holds(f)).map((p) => ({
    type: p.type,
    message: p.message(f),
  }));
}

/** The first precondition that does not hold, or undefined. */
export function firstFailedPrecondition(f: SalvageFacts): PreconditionFailure | undefined {
  const p = SALVAGE_PRECONDITIONS.find((c) => !c.holds(f));
  return p ? { type: p.type, message: p.message(f) } : undefined;
}
