/**
 * Composition root of `tote controller`: the only place where its connections, informers, timers and servers are
 * created. Order matters: Namespaces and Nodes sync before Pods are watched, so the first pod events already see
 * every namespace annotation and node image list.
 */
import { hostname } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { kubeEventRecorder } from '../controller/events.js';
import { startHealthServers, type HealthServers } from '../controller/health.js';
import { Informer } from '../controller/informer.js';
import {
  kubeOwnerFetcher,
  listWatchSource,
  NAMESPACES_PATH,
  NODES_PATH,
  PODS_PATH,
} from '../controller/kube-sources.js';
import { OwnerLookup } from '../controller/owners.js';
import { podKey, Reconciler } from '../controller/reconciler.js';
import { slimNode, type NodeImages, type NodeLike } from '../controller/resolve.js';
import { temporalResolver, temporalStarter } from '../controller/starter.js';
import { slimNamespace, slimPod, type Namespace, type Pod } from '../controller/types.js';
import { loadKubeHttp, type KubeHttp } from '../infra/kube-http.js';
import { createLogger, type Logger } from '../infra/logger.js';
import type { ControllerConfig } from './controller-config.js';
import { createControllerMetrics, type ControllerMetricSet } from './controller-metrics.js';

export {
  parseControllerConfig,
  ConfigError,
  CONTROLLER_FLAGS,
  type ControllerConfig,
  type ControllerFlag,
  type RawControllerFlags,
} from './controller-config.js';

/** A running controller. */
export interface RunningController {
  metricsPort: number;
  healthPort: number;
  /** Resolves with 1 when recovery became impossible (an informer gave up); the CLI then exits with it. */
  fatal: Promise<number>;
  /** Stops watching, lets running reconciles finish, closes servers and connections. */
  stop(): Promise<void>;
}

/** How often every pod with a pending detection is looked at again (owner annotations may have changed). */
const RESYNC_MS = 60_000;
/** How long a Temporal reachability answer is reused by /readyz. */
const TEMPORAL_CHECK_CACHE_MS = 5_000;

interface Informers {
  pods: Informer<unknown, Pod>;
  namespaces: Informer<unknown, Namespace>;
  nodes: Informer<unknown, NodeImages>;
}

function makeInformers(kc: KubeHttp, logger: Logger, onFatal: (err: unknown) => void): Informers {
  const common = { logger, onFatal };
  return {
    pods: new Informer<unknown, Pod>({
      ...common,
      name: 'pods',
      source: listWatchSource(kc, PODS_PATH),
      slim: (o) => slimPod(o as Pod),
      key: podKey,
      resourceVersion: (p) => p.metadata?.resourceVersion,
    }),
    namespaces: new Informer<unknown, Namespace>({
      ...common,
      name: 'namespaces',
      source: listWatchSource(kc, NAMESPACES_PATH),
      slim: (o) => slimNamespace(o as Namespace),
      key: (n) => n.metadata?.name ?? '',
      resourceVersion: (n) => n.metadata?.resourceVersion,
    }),
    nodes: new Informer<unknown, NodeImages>({
      ...common,
      name: 'nodes',
      source: listWatchSource(kc, NODES_PATH),
      slim: (o) => slimNode(o as NodeLike),
      key: (n) => n.name,
      resourceVersion: (n) => n.resourceVersion,
    }),
  };
}

/** Readiness of Temporal: a cheap RPC, answered from a short cache so probes do not hammer the frontend. */
function temporalProbe(connection: Connection): () => Promise<boolean> {
  let last = { at: 0, ok: false };
  return async () => {
    if (Date.now() - last.at < TEMPORAL_CHECK_CACHE_MS) return last.ok;
    const ok = await connection
      .withDeadline(Date.now() + 2000, () => connection.workflowService.getSystemInfo({}))
      .then(
        () => true,
        () => false,
      );
    last = { at: Date.now(), ok };
    return ok;
  };
}

function snapshot(inf: Informers, reconciler: Reconciler): Parameters<ControllerMetricSet['observe']>[0] {
  const all = Object.entries(inf) as [string, Informer<unknown, unknown>][];
  return {
    cached: Object.fromEntries(all.map(([k, i]) => [k, i.size])),
    synced: Object.fromEntries(all.map(([k, i]) => [k, i.hasSynced()])),
    queueDepth: reconciler.depth,
  };
}

interface Parts {
  cfg: ControllerConfig;
  logger: Logger;
  inf: Informers;
  reconciler: Reconciler;
  metrics: ControllerMetricSet;
  connection: Connection;
  isDead: () => boolean;
}

function buildReconciler(
  cfg: ControllerConfig,
  kc: KubeHttp,
  parts: Omit<Parts, 'reconciler' | 'cfg' | 'connection' | 'isDead'> & { client: Client },
): Reconciler {
  const { taskQueue } = cfg.temporal;
  const { inf, logger, metrics, client } = parts;
  const reconciler = new Reconciler({
    pods: inf.pods,
    namespaces: inf.namespaces,
    nodes: inf.nodes,
    owners: new OwnerLookup({ fetcher: kubeOwnerFetcher(kc) }),
    starter: temporalStarter(client, taskQueue),
    remote: temporalResolver(client, taskQueue),
    events: kubeEventRecorder(kc, hostname()),
    metrics,
    logger,
    config: { enabled: cfg.enabled, mode: cfg.mode, registryResolve: cfg.registryResolve },
  });
  const enqueue = (p: Pod): void => reconciler.enqueue(p);
  inf.pods.on({ add: enqueue, update: enqueue, delete: enqueue });
  const nsChanged = (n: Namespace): void => reconciler.namespaceChanged(n.metadata?.name ?? '');
  inf.namespaces.on({ add: nsChanged, update: nsChanged });
  return reconciler;
}

async function startServers(p: Parts): Promise<HealthServers> {
  const temporalOk = temporalProbe(p.connection);
  try {
    return await startHealthServers({
      host: p.cfg.metrics.host,
      metricsPort: p.cfg.metrics.port,
      healthPort: p.cfg.healthPort,
      metrics: async () => {
        p.metrics.observe(snapshot(p.inf, p.reconciler));
        return { contentType: p.metrics.registry.contentType, body: await p.metrics.registry.metrics() };
      },
      checks: {
        live: () => !p.isDead(),
        ready: async () => ({
          cachesSynced: Object.values(p.inf).every((i) => i.hasSynced()),
          temporalReachable: await temporalOk(),
        }),
      },
      logger: p.logger,
    });
  } catch (err) {
    const where = `${p.cfg.metrics.host}:${p.cfg.metrics.port} and port ${p.cfg.healthPort}`;
    throw new Error(`cannot listen on ${where}`, { cause: err });
  }
}

/** Namespaces and Nodes first, then Pods; resolves when everything synced (or the controller stopped). */
async function startInformers(p: Parts, stopping: () => boolean): Promise<void> {
  const t0 = Date.now();
  p.inf.namespaces.start();
  p.inf.nodes.start();
  await Promise.all([p.inf.namespaces.waitForSync(), p.inf.nodes.waitForSync()]);
  if (p.isDead() || stopping()) return;
  p.inf.pods.start();
  await p.inf.pods.waitForSync();
  const { pods, nodes, namespaces } = p.inf;
  p.logger.info(
    { syncMs: Date.now() - t0, pods: pods.size, nodes: nodes.size, namespaces: namespaces.size },
    'caches synced',
  );
}

function logStart(p: Parts, servers: HealthServers): void {
  const { cfg } = p;
  p.logger.info(
    {
      enabled: cfg.enabled,
      mode: cfg.mode,
      taskQueue: cfg.temporal.taskQueue,
      temporal: cfg.temporal.connection.address,
      temporalNamespace: cfg.temporal.namespace,
      registryResolve: cfg.registryResolve,
      metricsPort: servers.metricsPort,
      healthPort: servers.healthPort,
    },
    cfg.enabled ? 'controller started' : 'controller started with --enabled=false: nothing will be salvaged',
  );
}

/** Starts the controller and resolves once its servers listen (caches sync in the background). */
export async function startController(cfg: ControllerConfig): Promise<RunningController> {
  const logger = createLogger({ component: 'controller', json: cfg.jsonLog, level: cfg.logLevel });
  const kc = await loadKubeHttp({ file: cfg.kubeconfig, env: process.env });
  const metrics = createControllerMetrics();
  // Lazy: a Temporal outage at start makes the controller unready, not crash-looping.
  const connection = Connection.lazy(cfg.temporal.connection);
  const client = new Client({ connection, namespace: cfg.temporal.namespace });
  let fatalExit!: (code: number) => void;
  const fatal = new Promise<number>((r) => (fatalExit = r));
  let dead = false;
  let stopping = false;
  const inf = makeInformers(kc, logger, (err) => {
    dead = true;
    logger.fatal({ err }, 'cannot recover the Kubernetes watch; exiting');
    fatalExit(1);
  });
  const reconciler = buildReconciler(cfg, kc, { inf, logger, metrics, client });
  const parts: Parts = { cfg, logger, inf, reconciler, metrics, connection, isDead: () => dead };
  const servers = await startServers(parts).catch(async (err: unknown) => {
    await connection.close();
    throw err;
  });
  const synced = startInformers(parts, () => stopping);
  const resync = setInterval(() => reconciler.resync(), RESYNC_MS);
  resync.unref();
  logStart(parts, servers);
  return {
    metricsPort: servers.metricsPort,
    healthPort: servers.healthPort,
    fatal,
    async stop() {
      stopping = true;
      clearInterval(resync);
      await Promise.all(Object.values(inf).map((i) => i.stop()));
      await reconciler.stop();
      await servers.close();
      await connection.close();
      kc.close();
      void synced;
      logger.info('controller stopped');
    },
  };
}
