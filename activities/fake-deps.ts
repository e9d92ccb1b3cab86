/**
 * In-memory fakes of the activities' dependencies, for unit tests (activities/*.test.ts). Each fake records
 * what it was asked; tests replace single methods where a branch needs it.
 */
import type {
  ActivityConfig,
  ActivityDeps,
  AgentPort,
  CounterName,
  HistogramName,
  HttpPort,
  KubePort,
  PodEvent,
  SalvageRecordObject,
} from './deps.js';

/** Metrics that remember every update. */
export class FakeMetrics {
  readonly counters: { name: CounterName; labels?: Record<string, string> }[] = [];
  readonly observed: { name: HistogramName; seconds: number }[] = [];
  transferBytes = 0;
  inc(name: CounterName, labels?: Record<string, string>): void {
    this.counters.push({ name, labels });
  }
  observe(name: HistogramName, seconds: number): void {
    this.observed.push({ name, seconds });
  }
  addTransferBytes(bytes: number): void {
    this.transferBytes += bytes;
  }
  count(name: CounterName): number {
    return this.counters.filter((c) => c.name === name).length;
  }
}

/** A worker configuration for tests. */
export function fakeConfig(over: Partial<ActivityConfig> = {}): ActivityConfig {
  return {
    mode: 'auto',
    maxImageSizeBytes: 0,
    approveTimeoutMs: 60_000,
    transferAttempts: 3,
    sessionTtlSeconds: 300,
    salvageRecordTtlSeconds: 3600,
    agents: { kind: 'template', template: '{node}.agents:7443' },
    registryResolve: false,
    ...over,
  };
}

function unexpected(name: string): never {
  throw new Error(`fake: ${name} was not expected in this test`);
}

/** A KubePort whose methods throw unless replaced; events and records are recorded. */
export function fakeKube(
  over: Partial<KubePort> = {},
): KubePort & { events: PodEvent[]; records: SalvageRecordObject[] } {
  const events: PodEvent[] = [];
  const records: SalvageRecordObject[] = [];
  return {
    events,
    records,
    listNodes: async () => [],
    listAgentPods: async () => [],
    getNamespace: async () => unexpected('getNamespace'),
    getPod: async () => unexpected('getPod'),
    getOwner: async () => unexpected('getOwner'),
    createEvent: async (e) => void events.push(e),
    createSalvageRecord: async (r) => {
      const exists = records.some((x) => x.name === r.name && x.namespace === r.namespace);
      if (!exists) records.push(r);
      return !exists;
    },
    listSalvageRecords: async () => [],
    deleteSalvageRecord: async () => true,
    deletePod: async () => true,
    readDockerConfig: async () => null,
    ...over,
  };
}

/** An AgentPort whose methods throw unless replaced. */
export function fakeAgent(over: Partial<AgentPort> = {}): AgentPort {
  return {
    listImages: async () => unexpected('listImages'),
    hasImage: async () => unexpected('hasImage'),
    prepareExport: async () => unexpected('prepareExport'),
    importFrom: async () => unexpected('importFrom'),
    removeImage: async () => unexpected('removeImage'),
    pushImage: async () => unexpected('pushImage'),
    ...over,
  };
}

/** Deps built from fakes; `now` is fixed unless a clock is given. */
export function fakeDeps(
  over: Partial<Omit<ActivityDeps, 'metrics'>> & { metrics?: FakeMetrics } = {},
): ActivityDeps & { metrics: FakeMetrics } {
  const http: HttpPort = { postJson: async () => ({ status: 204 }) };
  return {
    kube: fakeKube(),
    agent: fakeAgent(),
    http,
    clock: { now: () => new Date('2026-11-25T12:00:00.000Z') },
    config: fakeConfig(),
    ...over,
    metrics: over.metrics ?? new FakeMetrics(),
  };
}
