import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Managed } from './run.js';
import { toolsBin } from './tools.js';

/** Thrown when a process ends before it became ready (typically: another process took its port first). */
export class ProcessExitedEarly extends Error {
  constructor(name: string, code: number | string) {
    super(`${name} exited (${code}) before it became ready; see its log`);
    this.name = 'ProcessExitedEarly';
  }
}

/**
 * Polls `check` until it returns a value other than `false`, failing fast if `proc` exits first and with the last
 * error after `timeoutMs`. Unlike `waitFor`, a dead process ends the wait at once instead of at the timeout.
 */
export async function waitUntilReady<T>(
  proc: Managed,
  what: string,
  check: () => Promise<T | false>,
  timeoutMs: number,
): Promise<T> {
  let exit: number | string | undefined;
  void proc.exited.then((code) => {
    exit = code;
  });
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (exit !== undefined) throw new ProcessExitedEarly(proc.name, exit);
    try {
      const v = await check();
      if (v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs `start` up to `attempts` times while it fails with {@link ProcessExitedEarly}: free ports are picked before
 * the process binds them, so a parallel test can win the race; a fresh attempt picks fresh ports.
 */
export async function retryOnEarlyExit<T>(
  attempts: number,
  start: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start(i);
    } catch (err) {
      if (!(err instanceof ProcessExitedEarly) || i >= attempts) throw err;
    }
  }
}

/**
 * Path of a tool that `hack/setup-tools.sh` may still be building: waits up to `timeoutMs` for it to appear in the
 * tools directory, then fails with the same advice as `toolPath`.
 */
export async function awaitTool(name: string, timeoutMs: number): Promise<string> {
  const p = path.join(toolsBin(), name);
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(p)) {
    if (Date.now() > deadline) {
      throw new Error(`tool "${name}" not found at ${p}: run "make setup" (bash hack/setup-tools.sh) first`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return p;
}
