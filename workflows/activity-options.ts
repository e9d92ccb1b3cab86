/**
 * Timeouts and retry policies of every activity call, in one place. Typed non-retryable failures stop retries
 * at once. MAINTENANCE: keep `NON_RETRYABLE` in step with activities/failures.ts NON_RETRYABLE_TYPES.
 */
import type { ActivityOptions } from '@temporalio/workflow';

/** Failure types that no retry can fix. */
export const NON_RETRYABLE = [
  'ImageTooLarge',
  'NoSourceNode',
  'OptInWithdrawn',
  'InvalidImageReference',
  'SourceIncomplete',
];

/** Kubernetes reads and writes: quick, retried for about two minutes (apiserver restarts, throttling). */
export const KUBE: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 8,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/** Inventory asks every agent (10 s each, 8 at a time). */
export const INVENTORY: ActivityOptions = { ...KUBE, startToCloseTimeout: '2m' };

/** One transfer from one source: long, heartbeated; `attempts` per source before the next source is tried. */
export function transferOptions(attempts: number): ActivityOptions {
  return {
    startToCloseTimeout: '2h',
    heartbeatTimeout: '30s',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: Math.max(1, attempts),
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
}

/** Backup push through the agent: may be slow; non-fatal, so a bounded number of attempts. */
export const PUSH: ActivityOptions = {
  startToCloseTimeout: '1h',
  retry: {
    initialInterval: '5s',
    backoffCoefficient: 2,
    maximumInterval: '5m',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/** Webhooks: short, retried a few times; a receiver that is down must not hold up the salvage for long. */
export const WEBHOOK: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
};

/** The reaper lists and deletes records; it heartbeats after each delete. */
export const REAP: ActivityOptions = { ...KUBE, startToCloseTimeout: '10m', heartbeatTimeout: '1m' };

/** Removing an image record on a node's agent. */
export const AGENT_OP: ActivityOptions = { ...KUBE, startToCloseTimeout: '1m' };
