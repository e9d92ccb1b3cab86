import { freePort, waitFor } from './ports.js';
import type { Managed, Run } from './run.js';
import { TOTE_BIN } from './tote.js';

/** V8 options the chart gives the controller: a small young generation keeps its resident memory flat. */
export const CONTROLLER_NODE_OPTIONS = '--max-semi-space-size=4';

/** Options of {@link startToteController}. */
export interface ControllerOptions {
  /** Kubeconfig the controller runs with: mint one for the chart's controller ServiceAccount, never admin. */
  kubeconfig: string;
  /** `host:port` of the Temporal frontend. */
  temporalAddress: string;
  /** Log (and process) name; give each replica its own. @default "controller" */
  name?: string;
  /** Extra flags, e.g. `--enabled=false`. */
  args?: string[];
  /** Wait for /readyz (caches synced, Temporal reachable). @default true */
  waitReady?: boolean;
  /** How long to wait for readiness. @default 120000 */
  readyTimeoutMs?: number;
}

/** A running `tote controller` process. */
export interface ControllerProcess {
  managed: Managed;
  metricsUrl: string;
  readyUrl: string;
  /** SIGKILL (a crash). */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** Starts the process again with the same flags and ports; waits for readiness. */
  start(): Promise<void>;
  /** Sum of the series of metric `name` whose labels include `labels` (0 when none). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/**
 * Starts `tote controller` from the compiled CLI (`npm run build` first) on free loopback ports, as a real process
 * with the given kubeconfig. Resolves once /readyz answers 200 (unless `waitReady` is false).
 */
export async function startToteController(run: Run, opts: ControllerOptions): Promise<ControllerProcess> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const name = opts.name ?? 'controller';
  const args = [
    TOTE_BIN,
    'controller',
    `--kubeconfig=${opts.kubeconfig}`,
    `--temporal-address=${opts.temporalAddress}`,
    `--metrics-addr=127.0.0.1:${metricsPort}`,
    `--health-port=${healthPort}`,
    '--log-level=debug',
    ...(opts.args ?? []),
  ];
  const readyUrl = `http://127.0.0.1:${healthPort}/readyz`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const proc: ControllerProcess = {
    managed: undefined as unknown as Managed,
    metricsUrl,
    readyUrl,
    kill: () => proc.managed.kill(),
    stop: () => proc.managed.stop(),
    start: async () => {
      // Keep the environment from leaking a developer's TOTE_* or Temporal settings into the test.
      const env = Object.fromEntries(
        Object.keys(process.env)
          .filter((k) => k.startsWith('TOTE_'))
          .map((k) => [k, '']),
      );
      // The chart's controller container sets the same NODE_OPTIONS (charts/tote, docs/adr/0006).
      proc.managed = run.spawn({
        name,
        cmd: process.execPath,
        args,
        env: { ...env, NODE_OPTIONS: CONTROLLER_NODE_OPTIONS },
      });
      if (opts.waitReady === false) return;
      await waitFor(
        `${name} ready at ${readyUrl}`,
        async () => {
          if (proc.managed.child.exitCode !== null)
            throw new Error(`${name} exited; see ${proc.managed.logPath}`);
          return (await fetch(readyUrl).catch(() => undefined))?.status === 200;
        },
        opts.readyTimeoutMs ?? 120_000,
      );
    },
    metric: async (name, labels = {}) => {
      const text = await (await fetch(metricsUrl)).text();
      const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      return text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
        .filter((l) => want.every((w) => l.includes(w)))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    },
  };
  await proc.start();
  return proc;
}
