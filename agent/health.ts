import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { listen, type Listening } from './listen.js';

/** The plaintext health port: kubelet's HTTP probes and the standard gRPC health service, on one port. */
export interface HealthServer {
  port: number;
  /** The gRPC health service; also add it to the main server for mTLS clients. */
  health: HealthImplementation;
  stop(): Promise<void>;
}

/** Options of {@link startHealthServer}. */
export interface HealthOptions {
  host: string;
  port: number;
  /** Readiness: containerd reachable. Also sets the gRPC status (SERVING / NOT_SERVING). */
  ready: () => Promise<boolean>;
  /** How often the gRPC status is refreshed when no probe asks. @default 10000 */
  refreshMs?: number;
}

// A client speaking HTTP/2 without TLS starts with this preface (RFC 9113 §3.4); anything else is HTTP/1.
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

function probes(health: HealthImplementation, ready: () => Promise<boolean>): HttpServer {
  return createHttpServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200).end('ok\n');
      return;
    }
    if (req.url !== '/readyz') {
      res.writeHead(404).end();
      return;
    }
    void ready().then((ok) => {
      health.setStatus('', ok ? 'SERVING' : 'NOT_SERVING');
      res.writeHead(ok ? 200 : 503).end(ok ? 'ok\n' : 'containerd unreachable\n');
    });
  });
}

/** Hands an HTTP/2 connection to the internal gRPC health server, replaying the bytes already read. */
function proxy(socket: Socket, first: Buffer, grpcPort: number): void {
  const upstream = connect(grpcPort, '127.0.0.1');
  upstream.write(first);
  socket.pipe(upstream).pipe(socket);
  const close = (): void => {
    socket.destroy();
    upstream.destroy();
  };
  socket.on('error', close);
  upstream.on('error', close);
}

/**
 * Starts the health port. gRPC probes of kubelet cannot present client certificates (the Go original's chart
 * bug), so health lives here in plaintext: HTTP /healthz and /readyz, and grpc.health.v1 for gRPC clients,
 * which reach an internal loopback gRPC server through this port.
 */
export async function startHealthServer(opts: HealthOptions): Promise<HealthServer> {
  const health = new HealthImplementation({ '': 'SERVING' });
  const internal: Listening = await listen(
    { host: '127.0.0.1', port: 0, credentials: ServerCredentials.createInsecure() },
    (s) => health.addToServer(s),
  );
  const http = probes(health, opts.ready);
  const sockets = new Set<Socket>();
  const front: NetServer = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      if (first.subarray(0, H2_PREFACE.length).equals(H2_PREFACE)) proxy(socket, first, internal.port);
      else {
        http.emit('connection', socket);
        socket.unshift(first);
      }
      socket.resume();
    });
    socket.on('error', () => socket.destroy());
  });
  const refresh = setInterval(() => {
    void opts.ready().then((ok) => health.setStatus('', ok ? 'SERVING' : 'NOT_SERVING'));
  }, opts.refreshMs ?? 10_000);
  refresh.unref();
  front.listen(opts.port, opts.host);
  await once(front, 'listening');
  const address = front.address();
  return {
    port: typeof address === 'object' && address ? address.port : opts.port,
    health,
    stop: async () => {
      clearInterval(refresh);
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      await internal.stop(100);
    },
  };
}
