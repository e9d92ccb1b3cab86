import { existsSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { Managed } from './run.js';
import { ProcessExitedEarly, waitFor } from './ports.js';
import { toolsBin } from './tools.js';

export { ProcessExitedEarly };

/**
 * {@link waitFor} for a managed process: fails at once with {@link ProcessExitedEarly} if `proc` exits first, with
 * the last probe error after `timeoutMs`. Kept for its callers (kube.ts, temporal.ts); new code calls `waitFor`.
 */
export async function waitUntilReady<T>(
  proc: Managed,
  what: string,
  check: () => Promise<T | false>,
  timeoutMs: number,
): Promise<T> {
  return waitFor(what, check, { timeoutMs, intervalMs: 50, process: proc });
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

/** The CA to verify a loopback HTTPS endpoint with, and an optional client certificate. */
export interface HttpsAuth {
  ca: string;
  cert?: string;
  key?: string;
}

export function httpsGet(url: string, auth: HttpsAuth): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...auth, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}
