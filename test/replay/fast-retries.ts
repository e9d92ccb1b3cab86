/**
 * Workflow interceptor module for the workflow unit tests (bundled by `workflowTestKit`, never by a worker or the
 * replay test): every activity keeps its retry policy from workflows/activity-options.ts, with the intervals
 * divided by {@link RETRY_TIME_DIVISOR}. Same attempts, coefficient and non-retryable types, so a test sees the
 * same sequence of attempts as production, about a hundred times sooner (a transfer's 10 attempts wait 0.9 s
 * instead of 90 s). Timeouts are left as they are: stubs finish at once or wait on a test's gate, and a shorter
 * heartbeat timeout would fail those waits. The kit also starts the dev server with prompt timers (env.ts
 * `startTestEnv`): by default the server fires no timer sooner than about a second, back-offs included.
 */
import { msToNumber } from '@temporalio/common/lib/time.js';
import type { Duration } from '@temporalio/common';
import type { ActivityOptions, RetryPolicy, WorkflowInterceptorsFactory } from '@temporalio/workflow';

/** How much faster retries come in the workflow unit tests. */
export const RETRY_TIME_DIVISOR = 100;

/** The server's initial interval when a retry policy names none. */
const DEFAULT_INITIAL_INTERVAL_MS = 1000;

function scaled(d: Duration): number {
  return Math.max(1, Math.round(msToNumber(d) / RETRY_TIME_DIVISOR));
}

/**
 * The retry policy with its intervals divided by {@link RETRY_TIME_DIVISOR}; an unset maximum stays unset (the
 * server's default, 100 × the initial interval, scales with it).
 */
export function fastRetry(retry: RetryPolicy = {}): RetryPolicy {
  return {
    ...retry,
    initialInterval: scaled(retry.initialInterval ?? DEFAULT_INITIAL_INTERVAL_MS),
    ...(retry.maximumInterval !== undefined ? { maximumInterval: scaled(retry.maximumInterval) } : {}),
  };
}

function fastOptions(options: ActivityOptions): ActivityOptions {
  return { ...options, retry: fastRetry(options.retry) };
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [{ scheduleActivity: (input, next) => next({ ...input, options: fastOptions(input.options) }) }],
});
