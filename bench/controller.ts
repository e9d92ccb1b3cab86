/**
 * `npm run bench:controller`: the controller with 10,000 pods over 500 nodes in the sandbox apiserver.
 * Measures its resident memory after the caches synced, the time to sync, and the detection latency from a pod
 * status patch (as kubelet reports ErrImagePull) to the salvage workflow's start time as recorded by Temporal
 * (same machine, same clock), over 50 pods patched one after the other. Prints `name value unit` lines.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { installChartIdentities } from '../test/harness/chart-rbac.js';
import { startToteController, type ControllerProcess } from '../test/harness/controller.js';
import { startKube } from '../test/harness/kube.js';
import { MERGE_PATCH, kubeletImage, registerNode } from '../test/harness/kube-nodes.js';
import { imageFailureStatus } from '../test/harness/kube-pod-status.js';
import { createNamespace } from '../test/harness/pods.js';
import { freePort, waitFor } from '../test/harness/ports.js';
import { Run } from '../test/harness/run.js';
import { startTemporal } from '../test/harness/temporal.js';

const PODS = Number(process.env.BENCH_PODS ?? 10_000);
const NODES = Number(process.env.BENCH_NODES ?? 500);
const HOT = 50;
const NAMESPACES = 20;
const CONCURRENCY = 48;
const HOT_NS = 'bench-hot';

const hex = (n: number): string => randomBytes(n).toString('hex');
const sha = (): string => `sha256:${hex(32)}`;

/** Runs `fn` over `0..n-1` with at most `limit` calls in flight. */
async function parallel(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

interface PodPlan {
  namespace: string;
  name: string;
  node: string;
  image: string;
  digest: string;
  hot: boolean;
}

function plan(i: number): PodPlan {
  const hot = i < HOT;
  const digest = sha();
  const repo = hot ? 'registry.bench/hot/app' : `registry.bench/team-${i % 17}/svc-${i % 113}`;
  return {
    namespace: hot ? HOT_NS : `bench-${i % NAMESPACES}`,
    name: `pod-${i}-${hex(3)}`,
    node: `node-${i % NODES}`,
    image: hot ? `${repo}@${digest}` : `${repo}:v${i % 7}`,
    digest,
    hot,
  };
}

/** A pod the way a Deployment stamps it out: labels, a few annotations, env, probes and resources. */
function podBody(p: PodPlan): V1Pod {
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: { app: p.name.split('-')[1] ?? 'x', tier: 'backend', 'pod-template-hash': hex(5) },
      annotations: {
        'kubectl.kubernetes.io/restartedAt': new Date().toISOString(),
        'prometheus.io/scrape': 'true',
        ...(p.hot ? { 'tote.dev/auto-salvage': 'true' } : {}),
      },
    },
    spec: {
      nodeName: p.node,
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: 'app',
          image: p.image,
          env: Array.from({ length: 6 }, (_, k) => ({ name: `SETTING_${k}`, value: `value-${k}-${hex(8)}` })),
          ports: [{ containerPort: 8080, name: 'http' }],
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 5 },
        },
      ],
    },
  };
}

function runningStatus(p: PodPlan): object {
  const now = new Date();
  const repo = p.image.split(/[@]|:v/)[0];
  return {
    phase: 'Running',
    hostIP: '10.0.0.1',
    podIP: `10.1.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
    startTime: now,
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
      type,
      status: 'True',
      lastTransitionTime: now,
    })),
    containerStatuses: [
      {
        name: 'app',
        image: p.image,
        imageID: `${repo}@${p.digest}`,
        containerID: `containerd://${hex(32)}`,
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: now } },
      },
    ],
  };
}

async function populate(kc: KubeConfig): Promise<PodPlan[]> {
  const core = kc.makeApiClient(CoreV1Api);
  await parallel(NODES, CONCURRENCY, async (i) => {
    const images = Array.from({ length: 12 }, (_, k) =>
      kubeletImage({
        repo: `registry.bench/base-${k}`,
        digest: sha(),
        tags: [`v${k}`],
        sizeBytes: 1e6 * (k + 1),
      }),
    );
    await registerNode(kc, { name: `node-${i}`, images });
  });
  for (let n = 0; n < NAMESPACES; n++) await createNamespace(kc, `bench-${n}`, { 'tote.dev/allow': 'true' });
  await createNamespace(kc, HOT_NS, { 'tote.dev/allow': 'true' });
  const plans = Array.from({ length: PODS }, (_, i) => plan(i));
  await parallel(PODS, CONCURRENCY, async (i) => {
    const p = plans[i] as PodPlan;
    await core.createNamespacedPod({ namespace: p.namespace, body: podBody(p) });
    const body = { status: runningStatus(p) };
    await core.patchNamespacedPodStatus({ namespace: p.namespace, name: p.name, body }, MERGE_PATCH);
  });
  return plans;
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) / 1024;
}

function syncSeconds(ctl: ControllerProcess): number {
  const line = readFileSync(ctl.managed.logPath, 'utf8')
    .split('\n')
    .find((l) => l.includes('"msg":"caches synced"'));
  return line ? (JSON.parse(line) as { syncMs: number }).syncMs / 1000 : NaN;
}

async function detectionLatencies(kc: KubeConfig, client: Client, hot: PodPlan[]): Promise<number[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const out: number[] = [];
  for (const p of hot) {
    const pod = await core.readNamespacedPod({ namespace: p.namespace, name: p.name });
    const status = imageFailureStatus(pod, { container: 'app', reason: 'ErrImagePull' });
    const handle = client.workflow.getHandle(`salvage/${p.digest}/${p.node}`);
    const t0 = Date.now();
    await core.patchNamespacedPodStatus(
      { namespace: p.namespace, name: p.name, body: { status } },
      MERGE_PATCH,
    );
    const started = await waitFor(
      `workflow for ${p.name}`,
      async () => (await handle.describe().catch(() => undefined))?.startTime ?? false,
      30_000,
    );
    out.push(started.getTime() - t0);
  }
  return out;
}

/**
 * The controller without the rest of the CLI: the composition root imported directly. Tells the controller's own
 * cost apart from what other subcommand modules load at import time into `tote controller`.
 */
async function coreRssMiB(run: Run, kubeconfig: string, temporalAddress: string): Promise<number> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const entry = new URL('../workers/controller.js', import.meta.url).href;
  const flags = {
    kubeconfig,
    temporalAddress,
    metricsAddr: `127.0.0.1:${metricsPort}`,
    healthPort: String(healthPort),
  };
  const script = `const m = await import(${JSON.stringify(entry)});
await m.startController(m.parseControllerConfig(${JSON.stringify(flags)}, {}));`;
  const proc = run.spawn({
    name: 'controller-core',
    cmd: process.execPath,
    args: ['--input-type=module', '-e', script],
  });
  try {
    const ready = `http://127.0.0.1:${healthPort}/readyz`;
    await waitFor(
      'core controller ready',
      async () => (await fetch(ready).catch(() => undefined))?.status === 200,
      120_000,
    );
    await new Promise((r) => setTimeout(r, 3000));
    return rssMiB(proc.child.pid ?? 0);
  } finally {
    await proc.stop();
  }
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

async function main(): Promise<void> {
  const run = Run.create('bench-controller');
  let connection: Connection | undefined;
  try {
    const [kube, temporal] = await Promise.all([startKube(run), startTemporal(run)]);
    const kc = kube.kubeConfig();
    const { controllerKubeconfig } = await installChartIdentities(kube);
    const t0 = Date.now();
    const plans = await populate(kc);
    console.error(`populated ${PODS} pods over ${NODES} nodes in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const ctl = await startToteController(run, {
      kubeconfig: controllerKubeconfig,
      temporalAddress: temporal.address,
      args: ['--log-level=info'],
    });
    await new Promise((r) => setTimeout(r, 3000));
    const rss = rssMiB(ctl.managed.child.pid ?? 0);
    const heapMiB = (await ctl.metric('tote_controller_nodejs_heap_size_used_bytes')) / 2 ** 20;
    const heapTotalMiB = (await ctl.metric('tote_controller_nodejs_heap_size_total_bytes')) / 2 ** 20;
    const externalMiB = (await ctl.metric('tote_controller_nodejs_external_memory_bytes')) / 2 ** 20;
    const coreRss = await coreRssMiB(run, controllerKubeconfig, temporal.address);
    connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    const lat = await detectionLatencies(
      kc,
      client,
      plans.filter((p) => p.hot),
    );
    const lines: [string, number, string][] = [
      ['controller_rss_mib', rss, 'MiB'],
      ['controller_core_rss_mib', coreRss, 'MiB'],
      ['controller_heap_used_mib', heapMiB, 'MiB'],
      ['controller_heap_total_mib', heapTotalMiB, 'MiB'],
      ['controller_external_mib', externalMiB, 'MiB'],
      ['controller_sync_s', syncSeconds(ctl), 's'],
      ['detection_latency_p50_ms', percentile(lat, 50), 'ms'],
      ['detection_latency_p95_ms', percentile(lat, 95), 'ms'],
      ['controller_rss_after_detections_mib', rssMiB(ctl.managed.child.pid ?? 0), 'MiB'],
      ['bench_pods', PODS, 'pods'],
      ['bench_nodes', NODES, 'nodes'],
    ];
    for (const [name, value, unit] of lines) console.log(`${name} ${Number(value.toFixed(2))} ${unit}`);
  } catch (err) {
    console.error(run.tailLogs(20));
    throw err;
  } finally {
    await connection?.close();
    await run.stop();
  }
}

await main();
