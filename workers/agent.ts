import { createServer, type Server as HttpServer } from 'node:http';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { ContainerdStore } from '../agent/containerd-store.js';
import { startHealthServer } from '../agent/health.js';
import { healthCheckMethod, listenAgent, type AgentListening } from '../agent/listen.js';
import { createAgentMetrics, type AgentMetrics } from '../agent/metrics.js';
import type { PeerDialer } from '../agent/peer.js';
import { RateLimiter } from '../agent/rate.js';
import { createAgentService } from '../agent/server.js';
import { AgentClient } from '../infra/agent-client.js';
import { createProcessRegistry } from '../infra/build-info.js';
import { createLogger, type Logger } from '../infra/logger.js';
import { certificateCN, ServerTls } from '../infra/tls.js';
import type { AgentConfig } from './agent-config.js';

export {
  parseAgentConfig,
  ConfigError,
  FLAGS,
  type AgentConfig,
  type RawAgentFlags,
} from './agent-config.js';

/** A running agent process: its bound ports and a clean stop. */
export interface RunningAgent {
  grpcPort: number;
  healthPort: number;
  metricsPort: number;
  stop(): Promise<void>;
}

// How often rotated certificate files are picked up.
const CERT_POLL_MS = 10_000;

async function serveMetrics(registry: Registry, host: string, port: number): Promise<HttpServer> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

function security(cfg: AgentConfig, log: Logger): { tls?: ServerTls; dial: PeerDialer; identity?: string } {
  const files = cfg.tls;
  if (!files) {
    log.warn('running WITHOUT TLS (--insecure-dev): any local process can call this agent; development only');
    return { dial: (s) => new AgentClient({ address: s.address, insecure: true }) };
  }
  // Clients read the files when created (one per import), so peers also see rotated certificates.
  return {
    tls: new ServerTls(files),
    dial: (s) => new AgentClient({ address: s.address, tls: files }),
    identity: certificateCN(files.cert),
  };
}

/** Applies rotated certificate files to the server's new connections; returns the function that stops. */
function watchCertificates(tls: ServerTls | undefined, server: AgentListening, log: Logger): () => void {
  if (!tls) return () => undefined;
  return tls.watch(CERT_POLL_MS, () =>
    server.reloadTls()
      ? log.info('TLS certificates reloaded')
      : log.error('TLS certificate reload failed; keeping the previous ones'),
  );
}

/** One token bucket for every export of this agent (--max-upload-rate); none when unlimited. */
function uploadLimiter(cfg: AgentConfig, metrics: AgentMetrics): RateLimiter | undefined {
  if (cfg.maxUploadRate <= 0) return undefined;
  // Burst of about one chunk: a stream never stalls inside a chunk, and no second sends much above the budget.
  return new RateLimiter({
    bytesPerSecond: cfg.maxUploadRate,
    burst: Math.min(cfg.maxUploadRate, cfg.chunkSize),
    onThrottle: (s) => metrics.uploadThrottledSeconds.inc(s),
  });
}

/** Composition root of `tote agent`: containerd store, agent service, health and metrics servers. */
export async function startAgent(
  cfg: AgentConfig,
  log: Logger = createLogger({ component: 'agent', json: cfg.jsonLog }),
): Promise<RunningAgent> {
  const registry = createProcessRegistry('agent');
  const store = new ContainerdStore({ socket: cfg.containerdSocket, namespace: cfg.containerdNamespace });
  if (!existsSync(cfg.containerdSocket))
    log.warn(
      { socket: cfg.containerdSocket },
      'containerd socket not found (yet); calls fail with UNAVAILABLE until it appears',
    );
  const sec = security(cfg, log);
  const agentMetrics = createAgentMetrics(registry);
  const service = createAgentService({
    store,
    dial: sec.dial,
    node: cfg.nodeName,
    maxImageSize: cfg.maxImageSize,
    chunkSize: cfg.chunkSize,
    maxConcurrentExports: cfg.maxConcurrentExports,
    ownIdentity: sec.identity,
    metrics: agentMetrics,
    uploadLimiter: uploadLimiter(cfg, agentMetrics),
    registryCa: cfg.backupRegistryCa,
    log,
  });
  const ready = (): Promise<boolean> =>
    store.info(`sha256:${'0'.repeat(64)}`).then(
      () => true,
      () => false,
    );
  const health = await startHealthServer({ host: cfg.bindAddress, port: cfg.healthPort, ready });
  const grpc = await listenAgent({
    methods: [...service, healthCheckMethod(health.health)],
    host: cfg.bindAddress,
    port: cfg.grpcPort,
    tls: sec.tls,
  });
  const stopWatching = watchCertificates(sec.tls, grpc, log);
  const metrics = await serveMetrics(registry, cfg.metrics.host || cfg.bindAddress, cfg.metrics.port);
  log.info(
    {
      node: cfg.nodeName,
      grpcPort: grpc.port,
      healthPort: health.port,
      mtls: Boolean(cfg.tls),
      maxUploadRate: cfg.maxUploadRate || 'unlimited',
    },
    'agent started',
  );
  return {
    grpcPort: grpc.port,
    healthPort: health.port,
    metricsPort: cfg.metrics.port,
    stop: async () => {
      await grpc.stop();
      await health.stop();
      await new Promise<void>((resolve) => metrics.close(() => resolve()));
      stopWatching();
      store.close();
      log.info('agent stopped');
    },
  };
}
