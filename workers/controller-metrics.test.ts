import { pino } from 'pino';
import { Registry } from 'prom-client';
import { podKey, Reconciler } from '../controller/reconciler.js';
import type { Namespace, Pod } from '../controller/types.js';
import { WorkQueue } from '../controller/work-queue.js';
import { createControllerMetrics, createWorkQueueMetrics } from './controller-metrics.js';

const D = `sha256:${'a'.repeat(64)}`;

/** The value of one series, 0 when absent. */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const match = (await samples(registry, name)).find((v) =>
    Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return match?.value ?? 0;
}

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  return (await metric.get()).values as Sample[];
}

/** A histogram's `_count` or `_sum` for queue `name`. */
async function hist(registry: Registry, histogram: string, name: string, part = 'count'): Promise<number> {
  const v = (await samples(registry, histogram)).find(
    (s) => s.metricName === `${histogram}_${part}` && s.labels.name === name,
  );
  return v?.value ?? 0;
}

const count = (registry: Registry, histogram: string, name: string): Promise<number> =>
  hist(registry, histogram, name);

function pod(name: string, image: string, namespace = 'shop'): Pod {
  return {
    metadata: { namespace, name, uid: `uid-${name}`, annotations: { 'tote.dev/auto-salvage': 'true' } },
    spec: { nodeName: 'node-a', containers: [{ name: 'app', image }] },
    status: {
      containerStatuses: [
        { name: 'app', image, imageID: '', state: { waiting: { reason: 'ImagePullBackOff' } } },
      ],
    },
  };
}

function reconciler(metrics: ReturnType<typeof createControllerMetrics>, failStarts = 0) {
  const pods = new Map<string, Pod>();
  const namespaces = new Map<string, Namespace>([
    ['shop', { metadata: { name: 'shop', annotations: { 'tote.dev/allow': 'true' } } }],
    ['closed', { metadata: { name: 'closed' } }],
  ]);
  let fails = failStarts;
  const r = new Reconciler({
    pods: { get: (k) => pods.get(k), values: () => pods.values() },
    namespaces: { get: (n) => namespaces.get(n) },
    nodes: { values: () => [][Symbol.iterator]() },
    owners: { ownersOf: async () => [] },
    starter: {
      startSalvage: async (i) => {
        if (fails-- > 0) throw new Error('temporal unavailable');
        return `salvage/${i.digest}/${i.node}`;
      },
      startCleanup: async (i) => `cleanup/${i.digest}/${i.node}`,
    },
    events: { record: async () => undefined },
    metrics,
    logger: pino({ level: 'silent' }),
    config: { enabled: true, mode: 'auto', registryResolve: false },
    retryBackoffMs: 1,
  });
  const put = (p: Pod): void => {
    pods.set(podKey(p), p);
    r.enqueue(p);
  };
  return { r, put };
}

describe('controller metrics', () => {
  test('the registry exports tote_build_info = 1 with the version', async () => {
    const m = createControllerMetrics({ version: '0.0.7', revision: 'unknown', nodeVersion: 'v20.1.0' });
    expect(await value(m.registry, 'tote_build_info', { version: '0.0.7', component: 'controller' })).toBe(1);
  });

  test('given not-actionable detections, tote_not_actionable_total counts each once per reason; ignored pods are not counted', async () => {
    const m = createControllerMetrics();
    const { r, put } = reconciler(m);
    put(pod('bad-ref', 'Not A Valid Reference!'));
    put(pod('tag-1', 'registry.example/team/app:1.0'));
    put(pod('tag-2', 'registry.example/team/other:2.0'));
    put(pod('closed', 'registry.example/team/app:1.0', 'closed'));
    await r.idle();
    // Pod updates re-run the reconcile; a handled detection is not counted again.
    put(pod('tag-1', 'registry.example/team/app:1.0'));
    await r.idle();
    expect(await value(m.registry, 'tote_not_actionable_total', { reason: 'invalid-reference' })).toBe(1);
    expect(await value(m.registry, 'tote_not_actionable_total', { reason: 'unresolved-tag' })).toBe(2);
    expect(
      await value(m.registry, 'tote_controller_ignored_detections_total', { why: 'namespace-not-opted-in' }),
    ).toBe(1);
    expect(m.registry.getSingleMetric('tote_controller_not_actionable_total')).toBeUndefined();
    await r.stop();
  });

  test('given a reconcile that fails once, the workqueue series count the adds, the retry and both runs', async () => {
    const m = createControllerMetrics();
    const { r, put } = reconciler(m, 1);
    expect(await value(m.registry, 'workqueue_adds_total', { name: 'pod' })).toBe(0);
    expect(await value(m.registry, 'workqueue_depth', { name: 'pod' })).toBe(0);
    put(pod('web', `registry.example/team/app@${D}`));
    for (let i = 0; i < 200 && (await count(m.registry, 'workqueue_work_duration_seconds', 'pod')) < 2; i++)
      await new Promise((res) => setTimeout(res, 2));
    await r.idle();
    expect(await value(m.registry, 'workqueue_retries_total', { name: 'pod' })).toBe(1);
    expect(await value(m.registry, 'workqueue_adds_total', { name: 'pod' })).toBe(2);
    expect(await count(m.registry, 'workqueue_queue_duration_seconds', 'pod')).toBe(2);
    expect(await count(m.registry, 'workqueue_work_duration_seconds', 'pod')).toBe(2);
    expect(await value(m.registry, 'workqueue_depth', { name: 'pod' })).toBe(0);
    await r.stop();
  });
});

describe('workqueue series', () => {
  test('depth counts pending keys (queued, or queued again while processing), not the one being processed', async () => {
    const registry = new Registry();
    const wq = createWorkQueueMetrics(registry, 'test');
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    let clock = 0;
    const q = new WorkQueue({
      concurrency: 1,
      metrics: wq,
      now: () => clock,
      process: async (key) => {
        if (key === 'a') await gate;
        clock += 250;
      },
    });
    q.add('a'); // taken at once: processing, not pending
    expect(await value(registry, 'workqueue_depth', { name: 'test' })).toBe(0);
    clock = 1000;
    q.add('b');
    q.add('b'); // already pending: not an add
    q.add('a'); // pending again while processing
    expect(await value(registry, 'workqueue_depth', { name: 'test' })).toBe(2);
    expect(await value(registry, 'workqueue_adds_total', { name: 'test' })).toBe(3);
    clock = 3000;
    release();
    await q.idle();
    expect(await value(registry, 'workqueue_depth', { name: 'test' })).toBe(0);
    expect(await count(registry, 'workqueue_queue_duration_seconds', 'test')).toBe(3);
    expect(await count(registry, 'workqueue_work_duration_seconds', 'test')).toBe(3);
    const sum = await hist(registry, 'workqueue_queue_duration_seconds', 'test', 'sum');
    // a: 0 s; b: 1000 → 3250 ms (after a's run); a again: 1000 → 3500 ms (after b's run).
    expect(sum).toBeCloseTo(0 + 2.25 + 2.5);
    await q.stop();
  });
});
