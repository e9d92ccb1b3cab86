import { freePort } from './ports.js';
import type { Managed, Run } from './run.js';
import { TOTE_BIN, untilReady } from './tote.js';

/** Options of {@link startToteWorker}. */
export interface WorkerOptions {
  /** Kubeconfig the worker runs with: mint one for the chart's worker ServiceAccount, never admin. */
  kubeconfig: string;
  temporalAddress: string;
  /** `host:port` template of agents, e.g. `{nodeIP}:9443`. */
  agentEndpointTemplate: string;
  /** mTLS client identity for agents; omitted = plaintext (--insecure-plaintext; agents then run with --insecure-dev). */
  tls?: { cert: string; key: string; ca: string };
  /** Process and log name; give each worker its own. @default "worker" */
  name?: string;
  /** Extra flags (backup registry, webhooks, limits…). */
  args?: string[];
  /** Extra environment (e.g. TOTE_WEBHOOK_SECRET, as the chart passes it). */
  env?: Record<string, string>;
  /** How long each start may take to answer /readyz (the worker bundles its workflows first). @default 30_000 */
  readyTimeoutMs?: number;
}

/** A running `tote worker` process. */
export interface WorkerProcess {
  managed: Managed;
  metricsUrl: string;
  readyUrl: string;
  /** Starts the process (again) with the same flags and ports; waits for /readyz. */
  start(): Promise<void>;
  /** SIGKILL (a crash). */
  kill(): Promise<void>;
  /** SIGTERM; the worker finishes or hands back running activities. */
  stop(): Promise<void>;
}

/** Clears any TOTE_* variable a developer has set, so only the given flags configure the process. */
export function cleanToteEnv(extra: Record<string, string> = {}): Record<string, string> {
  const cleared = Object.keys(process.env)
    .filter((k) => k.startsWith('TOTE_'))
    .map((k) => [k, '']);
  return { ...Object.fromEntries(cleared), ...extra };
}

/** Starts `tote worker` from the compiled CLI on free loopback ports; resolves once /readyz answers. */
export async function startToteWorker(run: Run, opts: WorkerOptions): Promise<WorkerProcess> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const name = opts.name ?? 'worker';
  const tls = opts.tls
    ? [`--tls-cert=${opts.tls.cert}`, `--tls-key=${opts.tls.key}`, `--tls-ca=${opts.tls.ca}`]
    : ['--insecure-plaintext'];
  const args = [
    TOTE_BIN,
    'worker',
    `--kubeconfig=${opts.kubeconfig}`,
    `--temporal-address=${opts.temporalAddress}`,
    `--agent-endpoint-template=${opts.agentEndpointTemplate}`,
    ...tls,
    `--metrics-addr=127.0.0.1:${metricsPort}`,
    `--health-port=${healthPort}`,
    ...(opts.args ?? []),
  ];
  const readyUrl = `http://127.0.0.1:${healthPort}/readyz`;
  const w: WorkerProcess = {
    managed: undefined as unknown as Managed,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    readyUrl,
    start: async () => {
      w.managed = run.spawn({ name, cmd: process.execPath, args, env: cleanToteEnv(opts.env) });
      await untilReady(
        w.managed,
        `${name} at ${readyUrl}`,
        async () => {
          return (await fetch(readyUrl).catch(() => undefined))?.status === 200;
        },
        opts.readyTimeoutMs,
      );
    },
    kill: () => w.managed.kill(),
    stop: () => w.managed.stop(35_000),
  };
  await w.start();
  return w;
}
