import { Server, type ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { encodeVarintsAndBytes, encodingOf } from '../common/wire.js';
import { AgentService, type AgentServer, type ReadBlobResponse } from '../proto/gen/tote/v1/agent.js';

// The service with a copy-light encoder for blob chunks (common/wire.ts): a chunk built already encoded
// (agent/blob-chunks.ts) is sent as is; everything else as generated.
const FAST_AGENT_SERVICE = {
  ...AgentService,
  readBlob: {
    ...AgentService.readBlob,
    responseSerialize: (v: ReadBlobResponse): Buffer => {
      const out = encodingOf(v) ?? encodeVarintsAndBytes([[1, Number(v.offset)]], 2, v.data);
      return Buffer.from(out.buffer, out.byteOffset, out.length);
    },
  },
};

/** A running gRPC server. */
export interface Listening {
  server: Server;
  /** The bound port (useful with port 0). */
  port: number;
  /** Stops accepting calls, waits up to `graceMs` for running ones, then cancels them. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@link listenAgent}. */
export interface ListenOptions {
  service: AgentServer;
  host: string;
  port: number;
  credentials: ServerCredentials;
}

/** Binds a gRPC server (the agent service, or any service via {@link listen}) and starts it. */
export async function listen(
  opts: Omit<ListenOptions, 'service'>,
  add: (server: Server) => void,
): Promise<Listening> {
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

/** Adds the tote.v1 Agent service to `server`, with the copy-light blob-chunk encoder. */
export function addAgentService(server: Server, service: AgentServer): void {
  server.addService(FAST_AGENT_SERVICE, service as unknown as UntypedServiceImplementation);
}

/** Binds and starts the tote.v1 Agent service. */
export function listenAgent(opts: ListenOptions): Promise<Listening> {
  return listen(opts, (s) => addAgentService(s, opts.service));
}
