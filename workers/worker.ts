/**
 * Composition root of `tote worker`: the only place where its connections, clients, metrics, servers and the
 * Temporal worker are created. `stop()` (on SIGTERM) shuts the worker down gracefully: running activities get
 * `shutdownGraceTime` to finish, then are cancelled and handed back to Temporal for another worker to retry.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Registry } from 'prom-client';
import { createActivities } from '../activities/index.js';
import { TransferSlotPool } from '../activities/slots.js';
import { startHealthServers, type HealthServers } from '../controller/health.js';
import { createProcessRegistry } from '../infra/build-info.js';
import { KubeClient } from '../infra/kube-client.js';
import { createLogger, type Logger } from '../infra/logger.js';
import { createWorkerMetrics } from '../infra/metrics.js';
import { createRegistryResolver } from '../infra/registry-client.js';
import { RegistryHead } from '../infra/registry-head.js';
import { createWebhookPoster } from '../infra/webhook.js';
import { GrpcAgentPort } from './agent-port.js';
import { ensureReaperSchedule } from './reaper-schedule.js';
import { ensureScanSchedule } from './scan-schedule.js';
import type { WorkerConfig } from './worker-config.js';

export { parseWorkerConfig, WorkerConfigError, WORKER_FLAGS, envName } from './worker-config.js';
export type { RawWorkerFlags, WorkerConfig, WorkerFlag } from './worker-config.js';

/** How long running activities may take to finish after SIGTERM before they are cancelled and handed back. */
export const SHUTDOWN_GRACE = '30s';

/** A running worker process. */
export interface RunningWorker {
  metricsPort: number;
  healthPort: number;
  /** Settles when the Temporal worker stops (rejects when it failed). */
  done: Promise<void>;
  /** Graceful shutdown; safe to call twice. */
  stop(): Promise<void>;
}

/** The worker's workflowsPath: compiled `.js` under dist/, the `.ts` source when run from the repository. */
export function workflowsPath(): string {
  const js = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
  return existsSync(js) ? js : js.replace(/\.js$/, '.ts');
}

/** Routes the SDK's (Rust core and worker) logs into pino. Once per process: later calls are ignored. */
function installRuntime(logger: Logger): void {
  const log = (level: LogLevel, message: string, meta?: LogMetadata): void => {
    const pinoLevel =
      level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error');
    logger[pinoLevel]({ sdk: meta }, message);
  };
  try {
    Runtime.install({
      logger: {
        log,
        trace: (m, meta) => log('TRACE', m, meta),
        debug: (m, meta) => log('DEBUG', m, meta),
        info: (m, meta) => log('INFO', m, meta),
        warn: (m, meta) => log('WARN', m, meta),
        error: (m, meta) => log('ERROR', m, meta),
      },
    });
  } catch {
    // Already installed in this process (tests start several workers).
  }
}

function loadKube(cfg: WorkerConfig): KubeConfig {
  const kc = new KubeConfig();
  if (cfg.kubeconfig) kc.loadFromFile(cfg.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

function buildActivities(cfg: WorkerConfig, registry: Registry): { activities: object; close(): void } {
  const kube = new KubeClient(loadKube(cfg), {
    agentNamespace: cfg.agents.namespace,
    agentSelector: cfg.agents.selector,
    instance: process.env.POD_NAME ?? hostname(),
  });
  const agent = new GrpcAgentPort(cfg.agents);
  const activities = createActivities({
    kube,
    agent,
    http: createWebhookPoster(),
    registry: cfg.activities.registryResolve
      ? createRegistryResolver({
          insecure: cfg.registryResolveInsecure,
          timeoutMs: cfg.registryResolveTimeoutMs,
          ca: cfg.registryResolveCa,
        })
      : undefined,
    manifests: new RegistryHead(),
    clock: { now: () => new Date() },
    metrics: createWorkerMetrics(registry),
    config: cfg.activities,
    slots: new TransferSlotPool(cfg.maxConcurrentSalvages, cfg.maxUploadsPerSource),
  });
  return { activities, close: () => agent.close() };
}

/** Starts the worker: Temporal connection, reaper schedule, Worker, /metrics and /healthz. */
export async function startWorker(cfg: WorkerConfig, logger?: Logger): Promise<RunningWorker> {
  const log = logger ?? createLogger({ component: 'worker', json: cfg.jsonLog, level: cfg.logLevel });
  installRuntime(log);
  const registry = createProcessRegistry('worker');
  const built = buildActivities(cfg, registry);
  const connection = await NativeConnection.connect(cfg.temporal.connection);
  let servers: HealthServers | undefined;
  try {
    const { namespace, taskQueue } = cfg.temporal;
    const client = new Client({ connection, namespace });
    await ensureReaperSchedule(client, { taskQueue, everyMs: cfg.reapIntervalMs, logger: log });
    await ensureScanSchedule(client, { taskQueue, scan: cfg.scan, logger: log });
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      workflowsPath: workflowsPath(),
      activities: built.activities,
      shutdownGraceTime: SHUTDOWN_GRACE,
    });
    const done = worker.run();
    servers = await startHealthServers({
      host: cfg.metrics.host,
      metricsPort: cfg.metrics.port,
      healthPort: cfg.healthPort,
      metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
      checks: {
        live: () => worker.getState() !== 'FAILED',
        ready: async () => ({ worker: worker.getState() === 'RUNNING' }),
      },
      logger: log,
    });
    log.info({ taskQueue, namespace, address: cfg.temporal.connection.address }, 'worker polling');
    let stopping: Promise<void> | undefined;
    const h = servers;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done.catch((err: unknown) => log.error({ err }, 'worker stopped with an error'));
        await h.close();
        built.close();
        await connection.close();
      })());
    return { metricsPort: h.metricsPort, healthPort: h.healthPort, done, stop };
  } catch (err) {
    await servers?.close();
    built.close();
    await connection.close();
    throw err;
  }
}
