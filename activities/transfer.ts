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
import { imageTooLarge, mapFailures } from './failures.js';
import { TRANSFER_PROGRESS_SIGNAL } from './types.js';
import type { TransferProgress, TransferResult, VerifyResult } from './types.js';

/** Input of `transferImage`. */
export interface TransferInput {
  digest: string;
  /** Names the target creates for kubelet (the pod's reference, and the digest reference). */
  imageNames: string[];
  source: AgentEndpoint;
  target: AgentEndpoint;
  /** 0 means no limit. */
  maxImageSizeBytes: number;
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

async function runImport(
  deps: ActivityDeps,
  input: TransferInput,
  relay: ProgressRelay,
): Promise<ImportProgress> {
  const timer = setInterval(() => heartbeat(relay.last), HEARTBEAT_EVERY_MS);
  const signal = cancellationSignal();
  let release: (() => void) | undefined;
  try {
    // Waiting for a slot heartbeats too (the timer above), so a queued transfer stays alive and cancellable.
    release = await deps.slots?.acquire(input.source.node, signal);
    const session = newSession();
    const plan = await mapFailures(`prepare export on ${input.source.node}`, () =>
      deps.agent.prepareExport(
        input.source,
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
      throw ApplicationFailure.nonRetryable(
        `source ${input.source.node} holds an incomplete copy`,
        'SourceIncomplete',
      );
    }
    if (input.maxImageSizeBytes > 0 && plan.totalBytes > input.maxImageSizeBytes) {
      throw imageTooLarge(plan.totalBytes, input.maxImageSizeBytes);
    }
    relay.update({ ...relay.last, bytesTotal: plan.totalBytes, blobsTotal: plan.blobs.length });
    const req = { session, digest: input.digest, sources: [input.source], imageNames: input.imageNames };
    return await mapFailures(`import on ${input.target.node} from ${input.source.node}`, () =>
      deps.agent.importFrom(input.target, req, (p) => relay.update(p), { signal }),
    );
  } finally {
    release?.();
    clearInterval(timer);
  }
}

/** Builds the transfer activities. */
export function createTransferActivities(deps: ActivityDeps): {
  transferImage(input: TransferInput): Promise<TransferResult>;
  verifyImage(input: { digest: string; target: AgentEndpoint }): Promise<VerifyResult>;
} {
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
      const relay = new ProgressRelay(deps, { ...base, ...prev, source: input.source.node, attempt });
      const startBytes = prev?.source === input.source.node ? prev.bytesDone : 0;
      const final = await runImport(deps, input, relay);
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
