/**
 * `npm run bench:recovery`: where the pod actually waits. On a real sandbox cluster (kubelets, scheduler,
 * controller-manager; tote's controller, worker and agents as processes), for images of 32 MiB and 512 MiB:
 *
 * - recovery: a Deployment's pod on node-2 fails to pull an image the registry lost (kubelet's own
 *   ErrImagePull), tote salvages it from node-1, and the replacement pod runs. Measured from the failure first
 *   seen to the replacement Ready.
 * - baseline: kubelet pulls the same image from the loopback registry onto node-3, which lacks it. Measured from
 *   the pod first seen to Ready.
 *
 * TOTE_BENCH_RUNS (default 3) runs per size, interleaved (32 MiB recovery, 32 MiB pull, 512 MiB recovery, …), each
 * with fresh images, and medians. The breakdown of a recovery: detect (failure seen → workflow started), plan
 * (→ the transfer activity scheduled: policy, opt-in, locating the holders), transfer (the transfer activity, from the workflow history), restart (transfer done → replacement pod seen:
 * verify, record, events, pod deletion, ReplicaSet), create (→ container running: scheduling, kubelet's unpack
 * and container creation) and ready (→ Ready; the fixture has no readiness probe, so usually within one poll).
 * A pull's: pull (kubelet's own "Successfully pulled … in" figure) and the rest (create and start).
 * Observations poll every 100 ms, so each part carries up to that much error. Layers are random data, which
 * gzip stores almost as is: unpacking them is cheaper than a real image's (see docs/limitations.md).
 * Prints `name value unit` lines; not a test.
 */
import { loadavg } from 'node:os';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { pushToRegistry } from '../test/harness/images.js';
import { createNamespace } from '../test/harness/pods.js';
import type { Sandbox } from '../test/harness/sandbox.js';
import { seedLostImage } from '../test/harness/scenarios.js';
import { startClusterWithTote } from '../test/harness/stack.js';
import { applyDeployment, isRunningReady, podsOf } from '../test/harness/workloads.js';

const RUNS = Number(process.env.TOTE_BENCH_RUNS ?? 3);
const SIZES_MIB = [32, 512];
const POLL_MS = 100;
const LIMIT_MS = 300_000;

function line(name: string, value: number, unit = ''): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(2)}${unit ? ` ${unit}` : ''}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
}

/** When each step of a pod's life was first seen, by polling. */
interface Seen {
  failure?: number;
  podSeen?: number;
  running?: number;
  ready?: number;
  pod?: V1Pod;
}

function waitingReason(p: V1Pod): string | undefined {
  return p.status?.containerStatuses?.[0]?.state?.waiting?.reason;
}

/**
 * Polls the pods of `ns/app` until one (other than `skipUid`) is Ready, noting when a pull failure, the pod, its
 * running container and its readiness were first seen.
 */
async function observe(
  kc: KubeConfig,
  ns: string,
  opts: { until: (s: Seen) => boolean; afterFailure?: boolean },
): Promise<Seen> {
  const seen: Seen = {};
  const deadline = Date.now() + LIMIT_MS;
  let failedUid: string | undefined;
  while (Date.now() < deadline) {
    const now = Date.now();
    for (const p of await podsOf(kc, ns, 'app')) {
      const reason = waitingReason(p);
      if (!seen.failure && (reason === 'ErrImagePull' || reason === 'ImagePullBackOff')) {
        seen.failure = now;
        failedUid = p.metadata?.uid;
      }
      // A recovery's pod of interest is the replacement, made after the failing one.
      if (p.metadata?.uid === failedUid || (opts.afterFailure && !seen.failure)) continue;
      seen.podSeen ??= now;
      if (!seen.running && p.status?.containerStatuses?.[0]?.state?.running) seen.running = now;
      if (!seen.ready && isRunningReady(p)) {
        seen.ready = now;
        seen.pod = p;
      }
    }
    if (opts.until(seen)) return seen;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`no Ready pod in ${ns} after ${LIMIT_MS} ms`);
}

/** Start and end of the workflow's transfer activity, from its history. */
async function transferWindow(client: Client, workflowId: string): Promise<{ start: number; end: number }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  let start = NaN;
  let end = NaN;
  const scheduled = new Map<string, number>();
  for (const e of history.events ?? []) {
    const t = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) scheduled.set(String(e.eventId), t);
    if (name === 'transferImage' && Number.isNaN(start)) start = t;
    if (e.activityTaskCompletedEventAttributes && !Number.isNaN(start)) {
      const sid = String(e.activityTaskCompletedEventAttributes.scheduledEventId);
      if (scheduled.get(sid) === start) end = t;
    }
  }
  return { start, end };
}

interface RecoveryFigures {
  total: number;
  detect: number;
  plan: number;
  transfer: number;
  restart: number;
  create: number;
  ready: number;
}

async function recovery(sb: Sandbox, client: Client, mib: number, run: number): Promise<RecoveryFigures> {
  const kc = sb.kube.kubeConfig();
  const ns = `rec-${mib}-${run}`;
  await createNamespace(kc, ns, { 'tote.dev/allow': 'true' });
  const lost = await seedLostImage(sb, {
    repo: `${ns}/app`,
    spec: { layers: 4, layerSize: (mib << 20) / 4 },
  });
  await applyDeployment(kc, {
    namespace: ns,
    name: 'app',
    image: lost.ref,
    node: 'node-2',
    podAnnotations: { 'tote.dev/auto-salvage': 'true' },
  });
  const seen = await observe(kc, ns, {
    until: (s) => s.ready !== undefined && s.failure !== undefined,
    afterFailure: true,
  });
  const workflowId = `salvage/${lost.image.digest}/node-2`;
  const desc = await client.workflow.getHandle(workflowId).describe();
  const started = desc.startTime.getTime();
  const t = await transferWindow(client, workflowId);
  const f = seen as Required<Seen>;
  return {
    total: (f.ready - f.failure) / 1000,
    detect: (started - f.failure) / 1000,
    plan: (t.start - started) / 1000,
    transfer: (t.end - t.start) / 1000,
    restart: (f.podSeen - t.end) / 1000,
    create: (f.running - f.podSeen) / 1000,
    ready: (f.ready - f.running) / 1000,
  };
}

interface PullFigures {
  total: number;
  pull: number;
  rest: number;
}

/** kubelet's own pull duration for the pod, from its "Successfully pulled image … in 1.234s" event. */
async function kubeletPullSeconds(kc: KubeConfig, ns: string, pod: string): Promise<number> {
  const events = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns });
  const pulled = events.items.find((e) => e.involvedObject?.name === pod && e.reason === 'Pulled');
  const m = /in ([\d.]+)(ms|s)\b/.exec(pulled?.message ?? '');
  if (!m) return NaN;
  return m[2] === 'ms' ? Number(m[1]) / 1000 : Number(m[1]);
}

async function registryPull(sb: Sandbox, mib: number, run: number): Promise<PullFigures> {
  const kc = sb.kube.kubeConfig();
  const ns = `pull-${mib}-${run}`;
  await createNamespace(kc, ns);
  // The same kind of image (same size and layers), still in the registry; node-3 has never had it.
  const lost = await seedLostImage(sb, {
    repo: `${ns}/gone`,
    holders: [],
    spec: { layers: 4, layerSize: (mib << 20) / 4 },
  });
  const registry = sb.registry;
  if (!registry) throw new Error('bench:recovery needs the sandbox registry');
  await pushToRegistry(lost.image, registry, `${ns}/app:1.0`);
  await applyDeployment(kc, {
    namespace: ns,
    name: 'app',
    image: `${registry.host}/${ns}/app:1.0`,
    node: 'node-3',
  });
  const seen = await observe(kc, ns, { until: (s) => s.ready !== undefined });
  const f = seen as Required<Seen>;
  const pull = await kubeletPullSeconds(kc, ns, f.pod.metadata?.name ?? '');
  const total = (f.ready - f.podSeen) / 1000;
  return { total, pull, rest: total - pull };
}

async function main(): Promise<void> {
  const { sb } = await startClusterWithTote({ label: 'bench-recovery', nodes: 3 });
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: sb.temporal.address });
    const client = new Client({ connection, namespace: sb.temporal.namespace });
    const rec = new Map<number, RecoveryFigures[]>(SIZES_MIB.map((s) => [s, []]));
    const pulls = new Map<number, PullFigures[]>(SIZES_MIB.map((s) => [s, []]));
    for (let run = 1; run <= RUNS; run++) {
      for (const mib of SIZES_MIB) {
        rec.get(mib)?.push(await recovery(sb, client, mib, run));
        pulls.get(mib)?.push(await registryPull(sb, mib, run));
      }
    }
    line('runs_per_size', RUNS);
    for (const mib of SIZES_MIB) {
      const r = rec.get(mib) ?? [];
      const p = pulls.get(mib) ?? [];
      const m = (k: keyof RecoveryFigures): number => median(r.map((x) => x[k]));
      const total = m('total');
      const pullTotal = median(p.map((x) => x.total));
      line(`recovery_vs_registry_pull_${mib}mib`, total / pullTotal);
      line(`recovery_${mib}mib_total`, total, 's');
      for (const k of ['detect', 'plan', 'transfer', 'restart', 'create', 'ready'] as const) {
        line(`recovery_${mib}mib_${k}`, m(k), 's');
      }
      line(`registry_pull_${mib}mib_total`, pullTotal, 's');
      line(`registry_pull_${mib}mib_pull`, median(p.map((x) => x.pull)), 's');
      line(`registry_pull_${mib}mib_create_start`, median(p.map((x) => x.rest)), 's');
    }
    line('poll_interval', POLL_MS, 'ms');
    line('load_average_1m', loadavg()[0] ?? 0);
  } finally {
    await connection?.close().catch(() => undefined);
    await sb.stop();
  }
}

await main();
