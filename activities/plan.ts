/**
 * The transfer plan behind `tote salvage --dry-run`: what the source would serve and what the target would skip,
 * so the operator sees the bytes that will cross the wire before anything moves. It opens a short-lived session
 * on the source (PrepareExport is the only call that lists an image's blobs) and never writes anything.
 */
import { randomBytes } from 'node:crypto';
import { cancellationSignal, log } from '@temporalio/activity';
import type { ActivityDeps, AgentEndpoint, BlobRef } from './deps.js';
import { mapFailures } from './failures.js';

/** Input of `planTransfer`. */
export interface PlanTransferInput {
  digest: string;
  source: AgentEndpoint;
  target: AgentEndpoint;
}

/**
 * How sure the dedup count is: `exact` when the target reported which blobs it holds (or holds the whole image),
 * `upper-bound` when it could not (nothing is assumed present, so at most this much moves).
 */
export type DedupPrecision = 'exact' | 'upper-bound';

/** What one transfer from `source` would move. */
export interface TransferPlan {
  source: string;
  /** Blobs of the image the source serves (manifest or index, configs, layers). */
  blobs: number;
  totalBytes: number;
  /** Blobs (and their bytes) the target already holds: ImportFrom skips them. */
  blobsPresent: number;
  bytesPresent: number;
  /**
   * Blobs and bytes that would be streamed from the source: the missing blobs except the root manifest, which
   * travels in the session's answer (so this matches the target agent's `tote_agent_bytes_received_total`).
   */
  blobsToMove: number;
  bytesToMove: number;
  dedup: DedupPrecision;
  /** Whether the source holds every blob (an incomplete source is never used). */
  sourceComplete: boolean;
}

/** A plan session only has to outlive this one call: the source forgets it soon after. */
const PLAN_SESSION_TTL_SECONDS = 60;

async function presentOnTarget(
  deps: ActivityDeps,
  input: PlanTransferInput,
  digests: string[],
  signal: AbortSignal,
): Promise<{ present: Set<string>; dedup: DedupPrecision }> {
  const port = deps.agent;
  if (port.presentBlobs) {
    try {
      return { present: new Set(await port.presentBlobs(input.target, digests, { signal })), dedup: 'exact' };
    } catch (err) {
      // An older agent without the RPC: fall through to what HasImage can tell.
      log.warn('blob presence unavailable on the target', { node: input.target.node, error: String(err) });
    }
  }
  const st = await mapFailures(`check ${input.digest} on ${input.target.node}`, () =>
    port.hasImage(input.target, input.digest, { signal }),
  );
  if (st.present && st.complete) return { present: new Set(digests), dedup: 'exact' };
  return { present: new Set(), dedup: 'upper-bound' };
}

function sum(blobs: BlobRef[]): number {
  return blobs.reduce((n, b) => n + b.size, 0);
}

/** The plan of moving `blobs` (root `digest`) when the target holds `present`. */
export function dedupPlan(
  digest: string,
  blobs: BlobRef[],
  present: ReadonlySet<string>,
): Pick<
  TransferPlan,
  'blobs' | 'totalBytes' | 'blobsPresent' | 'bytesPresent' | 'blobsToMove' | 'bytesToMove'
> {
  // PrepareExport may list a blob shared by several manifests more than once; it moves once.
  const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
  const here = unique.filter((b) => present.has(b.digest));
  const moving = unique.filter((b) => !present.has(b.digest) && b.digest !== digest);
  return {
    blobs: unique.length,
    totalBytes: sum(unique),
    blobsPresent: here.length,
    bytesPresent: sum(here),
    blobsToMove: moving.length,
    bytesToMove: sum(moving),
  };
}

/** Builds the plan activity. */
export function createPlanActivities(deps: ActivityDeps): {
  planTransfer(input: PlanTransferInput): Promise<TransferPlan>;
} {
  return {
    /** Lists the image's blobs on the source, asks the target which it holds, and counts what would move. */
    async planTransfer(input: PlanTransferInput): Promise<TransferPlan> {
      const signal = cancellationSignal();
      const exported = await mapFailures(`describe ${input.digest} on ${input.source.node}`, () =>
        deps.agent.prepareExport(
          input.source,
          {
            session: randomBytes(32).toString('base64url'),
            digest: input.digest,
            targetNode: input.target.node,
            ttlSeconds: PLAN_SESSION_TTL_SECONDS,
          },
          { signal },
        ),
      );
      const digests = [...new Set(exported.blobs.map((b) => b.digest))];
      const { present, dedup } = await presentOnTarget(deps, input, digests, signal);
      return {
        source: input.source.node,
        ...dedupPlan(input.digest, exported.blobs, present),
        dedup,
        sourceComplete: exported.complete,
      };
    },
  };
}
