/**
 * Timeouts and retry policies of every activity call, in one place. Typed non-retryable failures stop retries
 * at once: the list is common/failures.ts's, the table the activities raise their failures from.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_TYPES } from '../common/failures.js';

/** Failure types that no retry can fix (`nonRetryableErrorTypes` of every retry policy). */
export const NON_RETRYABLE: string[] = [...NON_RETRYABLE_TYPES];

/**
 * How soon a dead worker (or an activity task lost in a Temporal restart) is noticed: activities that may run
 * longer than a few seconds heartbeat every 2 s while they work (activities/liveness.ts, the LIVENESS list in
 * activities/index.ts), so a silence of 10 s means the attempt is gone and Temporal retries it at once.
 */
export const LIVENESS_TIMEOUT = '10s';

/**
 * Kubernetes reads and writes of single objects: quick, so a short start-to-close is the liveness bound (a dead
 * worker costs at most 15 s); retried for about two minutes (apiserver restarts, throttling).
 */
export const KUBE: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 8,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/** Inventory asks every agent (10 s each, 8 at a time): long on big clusters, so it heartbeats. */
export const INVENTORY: ActivityOptions = {
  ...KUBE,
  startToCloseTimeout: '5m',
  heartbeatTimeout: LIVENESS_TIMEOUT,
};

/** One question to one agent (verify on the target): bounded by the agent call's own 30 s deadline. */
export const AGENT_CALL: ActivityOptions = {
  ...KUBE,
  startToCloseTimeout: '45s',
  heartbeatTimeout: LIVENESS_TIMEOUT,
};

/** Retrying a transfer whose agent is away: from 1 s, doubling, at most 15 s apart. */
const TRANSFER_BACKOFF = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s' } as const;

/**
 * Attempts of one transfer round. An agent that restarts (seconds) or a node that reboots (a minute or two) must
 * not fail the salvage: with {@link TRANSFER_BACKOFF}, 10 attempts wait 1+2+4+8+15×5 = 90 s in all, so a transfer
 * keeps trying for about a minute and a half. Failures that are not about an agent being away (a corrupt blob,
 * a refusal) stop after the `--transfer-attempts` of the policy (activities/transfer.ts makes them non-retryable
 * then), so the next source is tried as before; typed non-retryable failures stop at once.
 */
export const TRANSFER_UNAVAILABLE_ATTEMPTS = 10;

/**
 * One transfer round: long, heartbeated (progress every 5 s; a silence of 15 s means the worker is gone, and the
 * retry resumes from the committed blobs); `attempts` per source for failures other than an absent agent.
 */
export function transferOptions(attempts: number): ActivityOptions {
  return {
    startToCloseTimeout: '2h',
    heartbeatTimeout: '15s',
    retry: {
      ...TRANSFER_BACKOFF,
      maximumAttempts: Math.max(1, attempts, TRANSFER_UNAVAILABLE_ATTEMPTS),
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
}

/** Backup push through the agent: may take long for a big image, so it heartbeats its bytes; non-fatal. */
export const PUSH: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '15s',
  retry: {
    initialInterval: '5s',
    backoffCoefficient: 2,
    maximumInterval: '5m',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/**
 * Webhooks: bounded by the worker's `--webhook-timeout` (so a start-to-close above the largest sensible one) and
 * heartbeated; retried a few times: a receiver that is down must not hold up the salvage for long.
 */
export const WEBHOOK: ActivityOptions = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
};

/** The reaper lists and deletes records; it heartbeats after each delete. */
export const REAP: ActivityOptions = { ...KUBE, startToCloseTimeout: '10m', heartbeatTimeout: '1m' };

/** Removing an image record on a node's agent. */
export const AGENT_OP: ActivityOptions = {
  ...KUBE,
  startToCloseTimeout: '1m',
  heartbeatTimeout: LIVENESS_TIMEOUT,
};
