/**
 * The shape of `tote doctor`'s report: one row per check, each with a status, a one-line detail and, unless it
 * passed, a hint that says what to do next. A warning leaves the installation healthy (e.g. no namespace opted
 * in yet); a failure does not.
 */

/** Outcome of one check. */
export const CHECK_STATUSES = ['pass', 'warn', 'fail'] as const;

/** One of {@link CHECK_STATUSES}. */
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** One row of the report. */
export interface CheckResult {
  /** Stable machine name, e.g. `kube-access`, `agent/node-1`, `task-queue`. */
  name: string;
  /** False only when the check failed (a warning is ok). */
  ok: boolean;
  status: CheckStatus;
  /** What was found, in one line. */
  detail: string;
  /** What to do next; present on every warning and failure. */
  hint?: string;
}

/** The whole report, as `--json` prints it. */
export interface DoctorReport {
  /** True when no check failed. */
  healthy: boolean;
  checks: CheckResult[];
}

/** A passed check. */
export function pass(name: string, detail: string): CheckResult {
  return { name, ok: true, status: 'pass', detail };
}

/** A warning: worth acting on, but tote works. */
export function warn(name: string, detail: string, hint: string): CheckResult {
  return { name, ok: true, status: 'warn', detail, hint };
}

/** A failure: tote cannot do its job until the hint is followed. */
export function fail(name: string, detail: string, hint: string): CheckResult {
  return { name, ok: false, status: 'fail', detail, hint };
}

/** Builds the report: healthy when no check failed. */
export function toReport(checks: CheckResult[]): DoctorReport {
  return { healthy: checks.every((c) => c.ok), checks };
}

/** The first line of an error's message (gRPC and HTTP errors can be long). */
export function errorLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split('\n')[0] ?? msg).slice(0, 300);
}

/** Rejects with "no answer within Ns" when `work` takes longer than `ms`. */
export async function deadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${Math.round(ms / 1000)}s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@link guard}. */
export interface GuardOptions {
  /** Name of the row reported when the check throws or times out. */
  name: string;
  /** How long the check may take. */
  timeoutMs: number;
  /** Hint of that row. */
  hint: string;
}

/**
 * Runs one check with a deadline: a check that throws or hangs (an API server that accepts the connection and
 * never answers) becomes a failed row instead of a stuck or crashed doctor.
 */
export async function guard(
  opts: GuardOptions,
  check: () => Promise<CheckResult | CheckResult[]>,
): Promise<CheckResult[]> {
  try {
    const res = await deadline(check(), opts.timeoutMs);
    return Array.isArray(res) ? res : [res];
  } catch (err) {
    return [fail(opts.name, errorLine(err), opts.hint)];
  }
}
