import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../common/names.js';
import { retryOnEarlyExit, waitUntilReady } from './kube-process.js';
import { freePort } from './ports.js';
import type { Managed, Run } from './run.js';
import { toolPath } from './tools.js';

/** Options of {@link startTemporal}. */
export interface TemporalOptions {
  /** Serve the Web UI (on its own free port). @default false */
  ui?: boolean;
  /** sqlite file that keeps state across {@link Temporal.restart}. @default in-memory (lost on stop) */
  dbFile?: string;
  /** Frontend gRPC port. @default a free port */
  port?: number;
  /** How long to wait until the frontend serves the namespace and search attributes. @default 60000 */
  readyTimeoutMs?: number;
}

/** How {@link Temporal.restart} takes the server down. */
export interface RestartOptions {
  /** SIGKILL instead of SIGTERM: a crash rather than a clean shutdown. @default false */
  kill?: boolean;
  /** How long the server stays down between the stop and the new start (fault injection). @default 0 */
  downMs?: number;
}

/** A running `temporal server start-dev` on loopback. */
export interface Temporal {
  /** `127.0.0.1:<port>` of the frontend gRPC service. */
  address: string;
  /** Always "default". */
  namespace: string;
  /** `http://127.0.0.1:<port>` when started with `ui: true`. */
  uiUrl?: string;
  /** The `temporal` binary, for {@link temporalCli} and ad-hoc commands. */
  cliPath: string;
  /** Wall time of the last start (or restart) until the namespace and search attributes were served. */
  startupMs: number;
  /** Stops the server. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops the server and starts it again on the same ports and db file (state survives only with `dbFile`). */
  restart(opts?: RestartOptions): Promise<void>;
}

interface Ports {
  frontend: number;
  ui: number;
  http: number;
  metrics: number;
}

function serverArgs(ports: Ports, opts: TemporalOptions): string[] {
  const args = [
    'server',
    'start-dev',
    '--ip=127.0.0.1',
    `--port=${ports.frontend}`,
    `--http-port=${ports.http}`,
    `--metrics-port=${ports.metrics}`,
    '--namespace=default',
    '--log-format=json',
    '--log-level=warn',
  ];
  // The UI would otherwise try to fetch a newsfeed from the internet, which the sandbox never reaches.
  args.push(
    ...(opts.ui ? [`--ui-port=${ports.ui}`, '--ui-ip=127.0.0.1', '--ui-disable-news-fetch'] : ['--headless']),
  );
  if (opts.dbFile) args.push(`--db-filename=${opts.dbFile}`);
  // MAINTENANCE: registered from common/names.ts so the sandbox always matches what workflows set.
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
    args.push(`--search-attribute=${name}=${type}`);
  return args;
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Ready = the frontend answers for the namespace and lists every tote search attribute. */
async function waitServing(proc: Managed, address: string, timeoutMs: number): Promise<void> {
  const port = Number(address.split(':')[1]);
  await waitUntilReady(proc, `temporal frontend port ${address}`, () => tcpOpen(port), timeoutMs);
  const conn = await Connection.connect({ address, connectTimeout: timeoutMs });
  try {
    await waitUntilReady(
      proc,
      `namespace "default" and search attributes on ${address}`,
      async () => {
        const res = await conn.operatorService.listSearchAttributes({ namespace: 'default' });
        const have = Object.keys(res.customAttributes ?? {});
        return Object.keys(SEARCH_ATTRIBUTES).every((n) => have.includes(n));
      },
      timeoutMs,
    );
  } finally {
    await conn.close();
  }
}

/**
 * Starts `temporal server start-dev` (CLI 1.9.1) on free loopback ports with namespace "default" and tote's search
 * attributes registered; resolves once they are served. Startup time goes to `<run>/logs/harness.log`.
 * On failure the process is stopped; print `run.tailLogs()`.
 */
export async function startTemporal(run: Run, opts: TemporalOptions = {}): Promise<Temporal> {
  const cliPath = toolPath('temporal');
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  let proc: Managed | undefined;
  const launch = async (ports: Ports): Promise<number> => {
    const t0 = Date.now();
    const address = `127.0.0.1:${ports.frontend}`;
    proc = run.spawn({ name: 'temporal', cmd: cliPath, args: serverArgs(ports, opts) });
    try {
      await waitServing(proc, address, timeoutMs);
    } catch (err) {
      await proc.stop();
      throw err;
    }
    const ms = Date.now() - t0;
    appendFileSync(
      path.join(run.logsDir, 'harness.log'),
      `temporal dev server ready in ${ms} ms (${address})\n`,
    );
    return ms;
  };
  // A caller-chosen port is not ours to change, so only free ports get fresh attempts.
  let ports!: Ports;
  const startupMs = await retryOnEarlyExit(opts.port ? 1 : 3, async () => {
    ports = {
      frontend: opts.port ?? (await freePort()),
      ui: await freePort(),
      http: await freePort(),
      metrics: await freePort(),
    };
    return launch(ports);
  });
  const env: Temporal = {
    address: `127.0.0.1:${ports.frontend}`,
    namespace: 'default',
    uiUrl: opts.ui ? `http://127.0.0.1:${ports.ui}` : undefined,
    cliPath,
    startupMs,
    stop: async () => {
      await proc?.stop();
    },
    restart: async (r: RestartOptions = {}) => {
      await (r.kill ? proc?.kill() : proc?.stop());
      if (r.downMs) await new Promise((resolve) => setTimeout(resolve, r.downMs));
      env.startupMs = await launch(ports);
    },
  };
  return env;
}

/**
 * Runs the `temporal` CLI against `env` (address and namespace set, user config files and TEMPORAL_* variables
 * ignored so the developer's own profile cannot leak in) and resolves with its stdout.
 */
export function temporalCli(env: Temporal, args: string[]): Promise<string> {
  const full = [
    ...args,
    `--address=${env.address}`,
    `--namespace=${env.namespace}`,
    '--disable-config-file',
    '--disable-config-env',
    '--color=never',
  ];
  return new Promise((resolve, reject) => {
    execFile(env.cliPath, full, { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err)
        reject(new Error(`temporal ${args.join(' ')} failed: ${err.message}\n${stderr}`, { cause: err }));
      else resolve(stdout);
    });
  });
}
