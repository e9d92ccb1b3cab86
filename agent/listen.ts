import { Server, type ServerCredentials } from '@grpc/grpc-js';
import type { HealthImplementation } from 'grpc-health-check';
import { GrpcH2Server, type Method } from '../infra/grpc-h2-server.js';
import type { ServerTls } from '../infra/tls.js';

/** A running gRPC server. */
export interface Listening {
  /** The bound port (useful with port 0). */
  port: number;
  /** Stops accepting calls, waits up to `graceMs` for running ones, then cancels them. */
  stop(graceMs?: number): Promise<void>;
}

/** Binds a grpc-js server (the internal health server) and starts it. */
export async function listen(
  opts: { host: string; port: number; credentials: ServerCredentials },
  add: (server: Server) => void,
): Promise<Listening & { server: Server }> {
  const server = new Server({
    'grpc.max_receive_message_length': 16 << 20,
    // Clients ping every 30 s (infra/agent-client.ts); allow it, also between calls.
    'grpc.keepalive_permit_without_calls': 1,
  });
  add(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.port}`, opts.credentials, (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const stop = async (graceMs = 5000): Promise<void> => {
    const timer = setTimeout(() => server.forceShutdown(), graceMs);
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    clearTimeout(timer);
  };
  return { server, port, stop };
}

type UnaryImpl = (call: { request: unknown }, cb: (err: unknown, res?: unknown) => void) => void;
type Definition = Record<
  string,
  { path: string; requestDeserialize(b: Buffer): unknown; responseSerialize(v: unknown): Buffer }
>;

/**
 * `grpc.health.v1.Health/Check` of `health` as a method of the agent's port, for clients that hold a certificate
 * (Watch stays on the plaintext health port).
 */
export function healthCheckMethod(health: HealthImplementation): Method {
  let def: Definition = {};
  let impl: Record<string, UnaryImpl> = {};
  health.addToServer({
    addService: (d: unknown, i: unknown) => {
      def = d as Definition;
      impl = i as Record<string, UnaryImpl>;
    },
  } as unknown as Parameters<HealthImplementation['addToServer']>[0]);
  const check = def.Check ?? def.check;
  const handler = impl.Check ?? impl.check;
  if (!check || !handler) throw new Error('grpc-health-check has no Check method');
  return {
    kind: 'unary',
    path: check.path,
    decode: (b) => check.requestDeserialize(b),
    encode: (v) => check.responseSerialize(v),
    handle: (request) =>
      new Promise((resolve, reject) =>
        handler({ request }, (err, res) => (err ? reject(err) : resolve(res))),
      ),
  };
}

/** Options of {@link listenAgent}. */
export interface ListenOptions {
  methods: Method[];
  host: string;
  port: number;
  /** mTLS; plaintext without (--insecure-dev and in-process tests only). */
  tls?: ServerTls;
}

/** A running agent server; {@link reloadTls} applies rotated certificates to new connections. */
export interface AgentListening extends Listening {
  reloadTls(): boolean;
}

/** Binds and starts the tote.v1 Agent service on node:http2 (infra/grpc-h2-server.ts). */
export async function listenAgent(opts: ListenOptions): Promise<AgentListening> {
  const server = await GrpcH2Server.listen(
    { host: opts.host, port: opts.port, tls: opts.tls?.options() },
    opts.methods,
  );
  return {
    port: server.port,
    stop: (graceMs) => server.stop(graceMs),
    reloadTls: () => {
      const next = opts.tls?.tryOptions();
      if (next) server.setSecureContext(next);
      return Boolean(next);
    },
  };
}
