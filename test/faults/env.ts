/**
 * The fault suite's environment: a real cluster of four nodes (each a kubelet on its own containerd, with
 * kube-controller-manager and kube-scheduler) with a durable Temporal dev server (so a
 * SIGKILLed server keeps its workflows), the whole tote stack as real processes (mTLS agents with a small chunk
 * size so transfers last long enough to be interrupted, one worker with a backup registry, one controller), and
 * a Temporal client that reconnects after the server comes back.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { startSandbox, type Sandbox } from '../harness/sandbox.js';
import { startToteStack, type ToteStack } from '../harness/stack.js';

/** Options of {@link startFaultEnv}. */
export interface FaultEnvOptions {
  nodes: number;
  /** Agent `--chunk-size`. @default "4Ki" */
  chunkSize?: string;
}

/** Everything a fault case drives and inspects. */
export interface FaultEnv {
  sb: Sandbox;
  stack: ToteStack;
  admin: KubeConfig;
  /** The current Temporal client (replaced by {@link reconnect}). */
  client(): Client;
  /** Opens a fresh connection, e.g. after the dev server was killed and restarted. */
  reconnect(): Promise<void>;
  /** Runs `fn` with the client; on a connection-level error reconnects once and tries again. */
  withClient<T>(fn: (c: Client) => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

/** Starts the sandbox and the tote stack; stops everything again if any part fails to start. */
export async function startFaultEnv(opts: FaultEnvOptions): Promise<FaultEnv> {
  const sb = await startSandbox({
    label: 'faults',
    nodes: opts.nodes,
    durableTemporal: true,
    kubelets: true,
  });
  let connection: Connection | undefined;
  try {
    const registry = sb.registry;
    const stack = await startToteStack(sb, {
      agentArgs: ['--chunk-size', opts.chunkSize ?? '4Ki'],
      // A backup push makes the time after the transfer long enough to be hit by a fault as well.
      workerArgs: registry
        ? [`--backup-registry=${registry.host}`, '--backup-registry-insecure', '--log-level=debug']
        : ['--log-level=debug'],
      controllers: 1,
    });
    connection = await Connection.connect({ address: sb.temporal.address });
    const connections = [connection];
    let client = new Client({ connection, namespace: sb.temporal.namespace });
    const env: FaultEnv = {
      sb,
      stack,
      admin: sb.kube.kubeConfig(),
      client: () => client,
      reconnect: async () => {
        // The old connection may still carry calls (a retrying query or describe): closing it under them throws
        // from grpc's retry timer, so it is only closed with the environment.
        connection = await Connection.connect({ address: sb.temporal.address });
        connections.push(connection);
        client = new Client({ connection, namespace: sb.temporal.namespace });
      },
      withClient: async (fn) => {
        try {
          return await fn(client);
        } catch (err) {
          if (!isConnectionError(err)) throw err;
          await env.reconnect();
          return fn(client);
        }
      },
      stop: async () => {
        for (const c of connections) await c.close().catch(() => undefined);
        await sb.stop();
      },
    };
    return env;
  } catch (err) {
    await connection?.close().catch(() => undefined);
    process.stderr.write(`fault environment failed to start: ${String(err)}\n${sb.run.tailLogs(30)}\n`);
    await sb.stop();
    throw err;
  }
}

/** gRPC UNAVAILABLE / DEADLINE_EXCEEDED and socket errors: the server is (or was) away, not a real answer. */
export function isConnectionError(err: unknown): boolean {
  const text = `${(err as { name?: string })?.name ?? ''} ${String((err as Error)?.message ?? err)}`;
  return /UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED|ECONNRESET|Connection dropped|transport|No connection|Failed to connect|TransportError|ServiceError/i.test(
    text,
  );
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Rejects with `what` when `p` has not settled within `ms` (the promise itself keeps running). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
