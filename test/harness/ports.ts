import net from 'node:net';
import type { Managed } from './run.js';

/** Asks the kernel for a free TCP port on 127.0.0.1. Another process may take it before we bind: callers retry. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on host:port, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 30_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** How long to poll before giving up. @default 30_000 */
  timeoutMs?: number;
  /** Pause between two probes. @default 100 */
  intervalMs?: number;
  /**
   * The process whose readiness is awaited: if it exits first the wait fails at once (even during a hanging probe)
   * with {@link ProcessExitedEarly} naming its log, instead of at the timeout.
   */
  process?: Managed;
}

/** Thrown when a process ends before it became ready (typically: another process took its port first). */
export class ProcessExitedEarly extends Error {
  /** Log of the process, for the reader of the failure. */
  readonly logPath: string;
  constructor(proc: Pick<Managed, 'name' | 'logPath'>, code: number | string, what: string) {
    super(`${proc.name} exited (${code}) while waiting for ${what}; see ${proc.logPath}`);
    this.name = 'ProcessExitedEarly';
    this.logPath = proc.logPath;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rejects with {@link ProcessExitedEarly} once `proc` has exited; never settles while it runs. */
function exitOf(proc: Managed, what: string): Promise<never> {
  const failure = proc.exited.then((code): never => {
    throw new ProcessExitedEarly(proc, code, what);
  });
  // The wait may have ended long before the process does: that later rejection is nobody's error.
  failure.catch(() => undefined);
  return failure;
}

/**
 * Polls `check` until it returns a value other than `false` (thrown errors count as "not yet" and the last one is
 * quoted in the timeout error), or throws after the timeout. The harness's one waiter: a number as third argument
 * is the timeout, as in its first version.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | false>,
  options: number | WaitOptions = {},
): Promise<T> {
  const opts = typeof options === 'number' ? { timeoutMs: options } : options;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const exited = opts.process ? exitOf(opts.process, what) : undefined;
  // With a process, every probe and pause races its exit, so a hanging probe cannot hold a failed start.
  const guard = <R>(p: Promise<R>): Promise<R> => (exited ? Promise.race([p, exited]) : p);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await guard(check());
      if (v !== false) return v;
    } catch (err) {
      if (err instanceof ProcessExitedEarly) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await guard(sleep(intervalMs));
  }
}
