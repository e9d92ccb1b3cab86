/**
 * Liveness heartbeats. Temporal notices a dead worker (SIGKILL, node lost) or a lost activity task (server
 * restart) only through a timeout: with a heartbeat timeout of a few seconds the activity is retried at once on
 * another worker, instead of after its whole start-to-close timeout. So every activity that may run longer than a
 * few seconds beats on a timer while it works, and the workflows give it a short `heartbeatTimeout`
 * (workflows/activity-options.ts).
 */
import { heartbeat } from '@temporalio/activity';

/** Beat period: well inside the shortest heartbeat timeout the workflows use (10 s). */
export const LIVENESS_EVERY_MS = 2_000;

/**
 * Runs `fn`, heartbeating at once and then every {@link LIVENESS_EVERY_MS} until it settles. `details` gives what
 * each beat carries (progress a retried attempt can read); without it, beats carry nothing.
 */
export async function keepAlive<T>(fn: () => Promise<T>, details?: () => unknown): Promise<T> {
  const beat = (): void => heartbeat(details?.());
  beat();
  const timer = setInterval(beat, LIVENESS_EVERY_MS);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** The same activities, with `names` running under {@link keepAlive} (details-free beats). */
export function withLiveness<A extends object>(activities: A, names: readonly (keyof A)[]): A {
  const out: A = { ...activities };
  for (const name of names) {
    const fn = activities[name];
    if (typeof fn !== 'function') continue;
    const wrapped = (...args: unknown[]): Promise<unknown> =>
      keepAlive(() => (fn as (...a: unknown[]) => Promise<unknown>).apply(activities, args));
    Object.assign(out, { [name]: wrapped });
  }
  return out;
}
