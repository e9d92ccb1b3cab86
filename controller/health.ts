/**
 * HTTP endpoints of the controller: `/metrics` (Prometheus text), `/healthz` (the process is alive and its watch
 * loops have not given up) and `/readyz` (every cache has synced and Temporal answers). Plain HTTP on purpose:
 * kubelet probes cannot present client certificates. Started by the composition root, never at import.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../infra/logger.js';

/** What the probes look at. */
export interface HealthChecks {
  /** False once recovery is impossible (an informer gave up): kubelet restarts the pod. */
  live(): boolean;
  /** Named readiness conditions; ready when all are true. */
  ready(): Promise<Record<string, boolean>>;
}

/** Options of {@link startHealthServers}. */
export interface HealthServerOptions {
  /** Host of both servers; empty = every interface. */
  host: string;
  /** Port of /metrics (0 = any free port). */
  metricsPort: number;
  /** Port of /healthz and /readyz; the same as `metricsPort` serves all three on one server. */
  healthPort: number;
  /** Prometheus text exposition of the registry. */
  metrics(): Promise<{ contentType: string; body: string }>;
  checks: HealthChecks;
  logger: Logger;
}

/** The running servers. */
export interface HealthServers {
  /** Bound ports (useful when 0 was asked). */
  metricsPort: number;
  healthPort: number;
  /** Closes both servers. */
  close(): Promise<void>;
}

type Handler = (path: string) => Promise<{ status: number; type: string; body: string } | undefined>;

function healthHandler(checks: HealthChecks): Handler {
  return async (path) => {
    if (path === '/healthz' || path === '/livez') {
      const ok = checks.live();
      return { status: ok ? 200 : 503, type: 'text/plain', body: ok ? 'ok\n' : 'informer gave up\n' };
    }
    if (path !== '/readyz') return undefined;
    const conds = await checks.ready();
    const ok = Object.values(conds).every(Boolean);
    return {
      status: ok ? 200 : 503,
      type: 'application/json',
      body: `${JSON.stringify({ ready: ok, ...conds })}\n`,
    };
  };
}

function metricsHandler(metrics: HealthServerOptions['metrics']): Handler {
  return async (path) => {
    if (path !== '/metrics') return undefined;
    const m = await metrics();
    return { status: 200, type: m.contentType, body: m.body };
  };
}

function serve(handlers: Handler[], logger: Logger): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    void (async () => {
      for (const h of handlers) {
        const r = await h(path);
        if (!r) continue;
        res.writeHead(r.status, { 'content-type': r.type }).end(r.body);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    })().catch((err: unknown) => {
      logger.error({ err, path }, 'health endpoint failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
}

function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host || undefined, () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Starts the /metrics server and the /healthz + /readyz server (one server when the ports are equal). */
export async function startHealthServers(opts: HealthServerOptions): Promise<HealthServers> {
  const health = healthHandler(opts.checks);
  const metrics = metricsHandler(opts.metrics);
  if (opts.metricsPort === opts.healthPort && opts.metricsPort !== 0) {
    const one = serve([metrics, health], opts.logger);
    const port = await listen(one, opts.host, opts.metricsPort);
    return { metricsPort: port, healthPort: port, close: () => close(one) };
  }
  const m = serve([metrics], opts.logger);
  const h = serve([health], opts.logger);
  const metricsPort = await listen(m, opts.host, opts.metricsPort);
  try {
    const healthPort = await listen(h, opts.host, opts.healthPort);
    return { metricsPort, healthPort, close: async () => void (await Promise.all([close(m), close(h)])) };
  } catch (err) {
    await close(m);
    throw err;
  }
}
