/**
 * Transfer: one source, one target, one session. The target agent pulls the missing blobs straight from the
 * source agent; this activity only opens the session, relays progress into heartbeats (so a retried attempt knows
 * where the last one stopped) and into the workflow's `progress` query, and verifies the result.
 */
import { randomBytes } from 'node:crypto';
import {
  activityInfo,
  ApplicationFailure,
  cancellationSignal,
  getClient,
  heartbeat,
  log,
} from '@temporalio/activity';
import type { ActivityDeps, AgentEndpoint, ImportProgress } from './deps.js';
import {
  holdersUnreachable,
  imageTooLarge,
  limitRetries,
  mapFailures,
  noSourceNode,
  sourceIncomplete,
} from './failures.js';
import { locateInventory, type HolderSurveys } from './inventory.js';
import { NoServingSourceError, SourcePicker } from './source-choice.js';
import { TRANSFER_PROGRESS_SIGNAL } from './types.js';
import type { SourceCandidate, TransferProgress, TransferResult, VerifyResult } from './types.js';

/** Input of `transferImage`. */
export interface TransferInput {
  digest: string;
  /** Names the target creates for kubelet (the pod's reference, and the digest reference). */
  imageNames: string[];
  /** The workflow's first choice; without `candidates`, the only source. */
  source: AgentEndpoint;
  /**
   * Every usable holder (fan-out): the activity then takes the least busy one with a free upload slot when it
   * runs, waits while all are at their cap, and reports the one it used in `TransferResult.source`.
   */
  candidates?: SourceCandidate[];
  target: AgentEndpoint;
  /** 0 means no limit. */
  maxImageSizeBytes: number;
  /**
   * The policy's `--transfer-attempts`: after that many attempts, a failure that is not about an absent agent is
   * made non-retryable (failures.ts `limitRetries`). Absent (inputs recorded before it): no limit here.
   */
  attempts?: number;
}

/** The failure type of a source agent that refused as busy (gRPC RESOURCE_EXHAUSTED, see failures.ts). */
export const SOURCE_BUSY = 'AgentGrpc8';

function failureTypeOf(err: unknown): string | undefined {
  return err instanceof ApplicationFailure ? (err.type ?? undefined) : undefined;
}

/**
 * The same failure with `{ source }` added to its details, so the workflow knows which holder failed when the
 * activity chose it (fan-out) and can leave that holder out of its next round.
 */
export function withSource(err: unknown, source: string): unknown {
  if (!(err instanceof ApplicationFailure)) return err;
  return ApplicationFailure.create({
    type: err.type ?? undefined,
    message: err.message,
    nonRetryable: err.nonRetryable === true,
    details: [...(err.details ?? []), { source }],
    cause: err.cause,
  });
}

/** Heartbeats while the agent is silent (a large blob): keeps cancellation and liveness flowing. */
export const HEARTBEAT_EVERY_MS = 5_000;

/** Minimum time between progress signals to the workflow: each one is a history event. */
export const SIGNAL_EVERY_MS = 2_000;

/** The progress a previous attempt heartbeated, if any (the agent itself resumes from committed blobs). */
export function previousProgress(): TransferProgress | undefined {
  const d = activityInfo().heartbeatDetails as TransferProgress | undefined;
  return d && typeof d.blobsCommitted === 'number' ? d : undefined;
}

/** Best effort: pushes progress into the workflow so `progress` queries show live bytes. */
function signalProgress(p: TransferProgress): void {
  const { workflowExecution } = activityInfo();
  if (!workflowExecution) return;
  try {
    getClient()
      .workflow.getHandle(workflowExecution.workflowId, workflowExecution.runId)
      .signal(TRANSFER_PROGRESS_SIGNAL, p)
      .catch((err: unknown) => log.debug('progress signal failed', { err: String(err) }));
  } catch {
    // No client (tests, replay tooling): the query then shows progress at phase boundaries only.
  }
}

function newSession(): string {
  return randomBytes(32).toString('base64url');
}

/** Keeps the latest progress and relays it, throttled, to heartbeats and the workflow. */
class ProgressRelay {
  last: TransferProgress;
  private lastSignal = 0;

  constructor(
    private readonly deps: ActivityDeps,
    base: TransferProgress,
  ) {
    this.last = base;
  }

  update(p: ImportProgress): void {
    this.last = { ...this.last, ...p };
    heartbeat(this.last);
    const now = this.deps.clock.now().getTime();
    if (now - this.lastSignal >= SIGNAL_EVERY_MS) {
      this.lastSignal = now;
      signalProgress(this.last);
    }
  }
}

/** Opens a session on `source` and has the target import from it. */
async function importOnce(
  deps: ActivityDeps,
  input: TransferInput,
  source: AgentEndpoint,
  relay: ProgressRelay,
): Promise<ImportProgress> {
  const signal = cancellationSignal();
  const session = newSession();
  const plan = await mapFailures(`prepare export on ${source.node}`, () =>
    deps.agent.prepareExport(
      source,
      {
        session,
        digest: input.digest,
        targetNode: input.target.node,
        ttlSeconds: deps.config.sessionTtlSeconds,
      },
      { signal },
    ),
  );
  if (!plan.complete) {
    throw sourceIncomplete(source.node);
  }
  if (input.maxImageSizeBytes > 0 && plan.totalBytes > input.maxImageSizeBytes) {
    throw imageTooLarge(plan.totalBytes, input.maxImageSizeBytes);
  }
  relay.update({ ...relay.last, bytesTotal: plan.totalBytes, blobsTotal: plan.blobs.length });
  const req = { session, digest: input.digest, sources: [source], imageNames: input.imageNames };
  return mapFailures(`import on ${input.target.node} from ${source.node}`, () =>
    deps.agent.importFrom(input.target, req, (p) => relay.update(p), { signal }),
  );
}

/** The workflow's choice only: wait for that source's slot (inputs without `candidates`). */
async function importFromGiven(
  deps: ActivityDeps,
  input: TransferInput,
  relay: ProgressRelay,
): Promise<ImportProgress> {
  // Waiting for a slot heartbeats too (the caller's timer), so a queued transfer stays alive and cancellable.
  const release = await deps.slots?.acquire(input.source.node, cancellationSignal());
  try {
    return await importOnce(deps, input, input.source, relay);
  } finally {
    release?.();
  }
}

/**
 * Makes the target a source for the next transfers of the digest in this worker, with the load and export cap
 * its agent reports (an agent with `--max-concurrent-exports 0` never serves). Best effort: if the agent does not
 * answer, the next inventory finds the node anyway.
 */
async function learnTarget(deps: ActivityDeps, picker: SourcePicker, input: TransferInput): Promise<void> {
  try {
    const st = await deps.agent.hasImage(input.target, input.digest, {
      signal: AbortSignal.any([cancellationSignal(), AbortSignal.timeout(LEARN_TIMEOUT_MS)]),
    });
    const load = { activeExports: st.activeExports, maxExports: st.maxExports };
    if (st.complete) picker.learn(input.digest, input.target, load);
  } catch (err) {
    log.debug('target not learned as a source', { target: input.target.node, err: String(err) });
  }
}

/** How long the target may take to say what it now holds before it is left to the next inventory. */
const LEARN_TIMEOUT_MS = 5_000;

/** Holders the workflow knew of that the latest inventory no longer lists (their agents do not answer). */
export function awayHolders(known: SourceCandidate[], now: SourceCandidate[]): string[] {
  const present = new Set(now.map((c) => c.node));
  return [...new Set(known.map((c) => c.node))].filter((n) => !present.has(n)).sort();
}

/** Worker-scoped fan-out state: the source picker and the shared holder surveys. */
interface FanOut {
  picker: SourcePicker;
  surveys?: HolderSurveys;
}

/**
 * Fan-out: takes the least busy holder with a free slot (waiting while all are at their cap), moves on to the
 * next one when an agent refuses as busy, and makes the target a source for later transfers once it completes.
 */
async function importFanOut(
  deps: ActivityDeps,
  { picker, surveys }: FanOut,
  input: TransferInput,
  relay: ProgressRelay,
): Promise<ImportProgress> {
  const locate = async (): Promise<SourceCandidate[]> =>
    (await locateInventory(deps, { digest: input.digest, targetNode: input.target.node }, surveys)).sources;
  // A retried attempt asks again: its source may be gone, and nodes that completed since are sources now.
  const candidates = activityInfo().attempt > 1 ? await locate() : (input.candidates ?? []);
  const away = awayHolders(input.candidates ?? [], candidates);
  // Every holder the workflow knew has stopped answering (an agent restarting): retryable, not NoSourceNode.
  if (candidates.length === 0 && away.length > 0) throw holdersUnreachable(input.digest, away);
  for (;;) {
    const lease = await mapFailures(`wait for a source of ${input.digest}`, () =>
      picker
        .pick({
          ...{ digest: input.digest, target: input.target.node, candidates, refresh: locate },
          ...{ prefer: relay.last.source, signal: cancellationSignal(), onWait: () => heartbeat(relay.last) },
        })
        .catch((err: unknown) => {
          throw err instanceof NoServingSourceError ? noSourceNode(input.digest, err.message) : err;
        }),
    );
    const source = { node: lease.source.node, address: lease.source.endpoint };
    relay.last = { ...relay.last, source: source.node };
    try {
      const done = await importOnce(deps, input, source, relay);
      picker.served(source.node);
      await learnTarget(deps, picker, input);
      return done;
    } catch (err) {
      if (failureTypeOf(err) !== SOURCE_BUSY) throw withSource(err, source.node);
      log.info('source busy, trying the least busy other holder', {
        source: source.node,
        backoffMs: picker.refused(source.node),
      });
    } finally {
      lease.release();
    }
  }
}

async function runImport(
  deps: ActivityDeps,
  fan: FanOut,
  input: TransferInput,
  relay: ProgressRelay,
): Promise<ImportProgress> {
  const timer = setInterval(() => heartbeat(relay.last), HEARTBEAT_EVERY_MS);
  try {
    return input.candidates
      ? await importFanOut(deps, fan, input, relay)
      : await importFromGiven(deps, input, relay);
  } finally {
    clearInterval(timer);
  }
}

/** Builds the transfer activities; `surveys` (shared with the inventory activity) batches concurrent locates. */
export function createTransferActivities(
  deps: ActivityDeps,
  surveys?: HolderSurveys,
): {
  transferImage(input: TransferInput): Promise<TransferResult>;
  verifyImage(input: { digest: string; target: AgentEndpoint }): Promise<VerifyResult>;
} {
  // Real time, not deps.clock: the picker's back-offs and refreshes run on real timers.
  const fan: FanOut = { picker: new SourcePicker({ slots: deps.slots }), surveys };
  return {
    /** Moves the image from `source` to `target`, heartbeating progress; resumes where a failed attempt stopped. */
    async transferImage(input: TransferInput): Promise<TransferResult> {
      const started = deps.clock.now().getTime();
      const { attempt } = activityInfo();
      const prev = previousProgress();
      if (prev)
        log.info('resuming transfer', { source: prev.source, blobsCommitted: prev.blobsCommitted, attempt });
      deps.metrics.inc('salvage_attempts');
      const base = { bytesDone: 0, bytesTotal: 0, blobsCommitted: 0, blobsTotal: 0, blobsSkipped: 0 };
      // With candidates, a retry first prefers the holder the previous attempt used (its session is warm).
      const first = input.candidates && prev?.source ? prev.source : input.source.node;
      const relay = new ProgressRelay(deps, { ...base, ...prev, source: first, attempt });
      const final = await runImport(deps, fan, input, relay).catch((err: unknown) => {
        throw limitRetries(err, attempt, input.attempts);
      });
      const startBytes = prev?.source === relay.last.source ? prev.bytesDone : 0;
      relay.update(final);
      deps.metrics.addTransferBytes(final.bytesReceived ?? Math.max(0, final.bytesDone - startBytes));
      return { ...relay.last, durationMs: deps.clock.now().getTime() - started };
    },

    /** Asks the target's agent whether every blob of the image is now in its containerd. */
    async verifyImage(input: { digest: string; target: AgentEndpoint }): Promise<VerifyResult> {
      const st = await mapFailures(`verify on ${input.target.node}`, () =>
        deps.agent.hasImage(input.target, input.digest, { signal: cancellationSignal() }),
      );
      return { complete: st.present && st.complete, sizeBytes: st.sizeBytes };
    },
  };
}
