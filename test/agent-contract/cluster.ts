import { Registry } from 'prom-client';
import { FakeStore } from '../../agent/fake-store.js';
import { listenAgent, type Listening } from '../../agent/listen.js';
import type { AgentLogger } from '../../agent/logger.js';
import { createAgentMetrics, type AgentMetrics } from '../../agent/metrics.js';
import { createAgentService, type AgentServiceDeps } from '../../agent/server.js';
import { AgentClient } from '../../infra/agent-client.js';

/** One in-process agent on 127.0.0.1 with a fake store (plaintext: unit tests only). */
export interface TestAgent {
  name: string;
  store: FakeStore;
  address: string;
  client: AgentClient;
  metrics: AgentMetrics;
  registry: Registry;
  listening: Listening;
}

/** A few agents that can import from each other. */
export interface TestCluster {
  agents: Record<string, TestAgent>;
  stop(): Promise<void>;
}

const quiet: AgentLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Starts one agent per name; `overrides` tune the service deps (clock, limits). */
export async function startCluster(
  names: string[],
  overrides: Partial<AgentServiceDeps> = {},
): Promise<TestCluster> {
  const agents: Record<string, TestAgent> = {};
  const clients: AgentClient[] = [];
  for (const name of names) {
    const store = new FakeStore();
    const registry = new Registry();
    const metrics = createAgentMetrics(registry);
    const service = createAgentService({
      store,
      node: name,
      metrics,
      log: quiet,
      chunkSize: 64 * 1024,
      maxConcurrentExports: 4,
      maxImageSize: 1 << 30,
      dial: (src) => {
        const c = new AgentClient({ address: src.address, insecure: true });
        clients.push(c);
        return c;
      },
      ...overrides,
    });
    const listening = await listenAgent({ methods: service, host: '127.0.0.1', port: 0 });
    const address = `127.0.0.1:${listening.port}`;
    agents[name] = {
      name,
      store,
      address,
      client: new AgentClient({ address, insecure: true }),
      metrics,
      registry,
      listening,
    };
  }
  return {
    agents,
    stop: async () => {
      for (const c of clients) c.close();
      for (const a of Object.values(agents)) {
        a.client.close();
        await a.listening.stop(100);
      }
    },
  };
}

/** Collects a stream into an array. */
export async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

/** The gRPC status code a promise rejects with (or "ok"). */
export async function codeOf(p: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}
