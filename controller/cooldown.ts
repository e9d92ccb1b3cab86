/**
 * The cool-down after a salvage that ended without success (docs/adr/0007-failed-salvage-cooldown.md): the
 * controller does not start a new run for the same (digest, node) until the last run has been closed for
 * `cooldownMs`, so a controller restart (or a resync) at 3 a.m. does not replay a failure that just happened —
 * with its events, webhooks and pages — while a failure that persists is still retried on its own later.
 */

import { pullPolicyBlocksSalvage } from '../common/pull-policy.js';

/** How long a salvage that ended without success keeps the controller from starting another. @default 10 min */
export const FAILED_SALVAGE_COOLDOWN_MS = 10 * 60_000;

/** The last run of a workflow id, as `describe` reports it. */
export interface LastRun {
  /** Temporal's execution status name: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, … */
  status: string;
  closeTime?: Date;
}

/**
 * Milliseconds until a new run may start for a workflow id whose last run is `last`; 0 means start now. A run
 * that is still open is joined (0); a completed run allows a new one at once (the image was salvaged, so a pod
 * failing again means the image went away again); any other closed run (failed, timed out, terminated,
 * cancelled) waits until it has been closed for `cooldownMs`, and so does a completed one for a container that
 * pulls with `imagePullPolicy: Always`.
 */
export function cooldownLeft(
  last: LastRun,
  now: Date,
  cooldownMs: number = FAILED_SALVAGE_COOLDOWN_MS,
  opts: { pullPolicy?: string } = {},
): number {
  if (last.status === 'RUNNING' || last.status === 'CONTINUED_AS_NEW') return 0;
  // Under imagePullPolicy: Always a completed salvage cannot bring the pod back, and the pod keeps failing: a new
  // run would only repeat the same Warning. It waits out the cool-down like a failure.
  if (last.status === 'COMPLETED' && !pullPolicyBlocksSalvage(opts.pullPolicy)) return 0;
  if (!last.closeTime) return 0;
  return Math.max(0, last.closeTime.getTime() + cooldownMs - now.getTime());
}
