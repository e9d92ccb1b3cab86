/**
 * Retry helpers of the watch loops: which failures mean "relist" (410 Gone) and how long to wait otherwise.
 */

/** An error status carried by a watch ERROR event or an HTTP failure. */
export function statusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  const c = typeof e.code === 'number' ? e.code : e.statusCode;
  return typeof c === 'number' ? c : undefined;
}

/** True for 410 Gone: the resourceVersion (or continue token) is too old and a fresh list is needed. */
export function isGone(err: unknown): boolean {
  return statusCode(err) === 410;
}

/** Raised inside the loop when the watch reports 410 (as an ERROR event). */
export class GoneError extends Error {
  readonly code = 410;
}

/** The backoff after `failures` consecutive failures: initial × 2^(failures−1), capped. */
export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
}

/** The error an ERROR watch event stands for: {@link GoneError} for 410, else an Error carrying the code. */
export function watchError(obj: unknown): Error {
  const code = statusCode(obj);
  const message = (obj as { message?: string } | undefined)?.message ?? 'watch error';
  if (code === 410) return new GoneError(message);
  return Object.assign(new Error(`watch ERROR event: ${message}`), { code });
}
