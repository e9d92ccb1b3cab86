// End to end on real components (Temporal dev server, etcd + kube-apiserver, controller-manager, scheduler, one
// kubelet per containerd node, mTLS agents, a registry, a webhook receiver, `tote worker` from the compiled CLI):
// a salvage started by hand moves an image that only node-1 has onto node-2, records it, restarts the owned pod,
// backs it up and notifies, and the Deployment's new pod runs from it; then the worker and Temporal are each
// killed in the middle of a transfer and the salvage still completes exactly once, its pod running.
import { randomBytes } from 'node:crypto';
import { credentials, Metadata } from '@grpc/grpc-js';
import type { WorkflowHandle } from '@temporalio/client';
import {
  ContentClient,
  type ListStatusesResponse,
} from '../../proto/gen/containerd/services/content/v1/content.js';
import { listContent, listImages } from '../harness/containerd.js';
import { buildImage, importToNode, type BuiltImage } from '../harness/images.js';
import { createNamespace } from '../harness/pods.js';
import { waitFor } from '../harness/ports.js';
import { registryGet, MANIFEST_ACCEPT } from '../harness/registry.js';
import { temporalCli } from '../harness/temporal.js';
import { applyDeployment, awaitKubeletFailure, awaitRunning, podLog } from '../harness/workloads.js';
import { progressQuery, salvageImage, type SalvageInput } from '../../workflows/index.js';
import { salvageStartOptions } from '../../workflows/start-options.js';
import {
  isToteEvent,
  metricValue,
  podEvents,
  podGone,
  salvageRecords,
  startSalvageEnv,
  type SalvageEnv,
} from './salvage-env.js';

const TIMEOUT = 600_000;
let env: SalvageEnv;

beforeAll(async () => {
  // Small chunks let a SIGSTOPped source stop mid-blob (the durability cases slow it down on purpose).
  env = await startSalvageEnv({ agentArgs: ['--chunk-size', '64Ki'] });
}, TIMEOUT);

afterAll(async () => {
  await env?.stop();
}, TIMEOUT);

/**
 * An opted-in Deployment whose pod on node-2 cannot pull `image` (its registry is gone), which only node-1 holds;
 * returns once node-2's kubelet has reported the failure, with the salvage input for that pod.
 */
async function scenario(
  ns: string,
  layers: number,
  layerSize: number,
): Promise<{ img: BuiltImage; input: SalvageInput }> {
  const ref = `registry.gone.test/${ns}/web:1.0`;
  // Two small base layers under the big ones: they commit long before the big ones, so a transfer caught in the
  // middle holds committed blobs as well as partial ones.
  const base = await buildImage(env.sb.run, { layers: 2, layerSize: 256 << 10, name: `${ns}-base` });
  const img = await buildImage(env.sb.run, {
    layers: layers + 2,
    layerSize,
    name: ns,
    shareBaseLayersWith: base,
    sharedLayers: 2,
    app: {},
  });
  await importToNode(env.sb.node('node-1'), img, ref);
  await env.sb.syncNodeImages('node-1');
  await createNamespace(env.admin, ns, { 'tote.dev/allow': 'true' });
  await applyDeployment(env.admin, {
    namespace: ns,
    name: 'web',
    node: 'node-2',
    image: ref,
    podAnnotations: { 'tote.dev/auto-salvage': 'true' },
  });
  const failure = await awaitKubeletFailure(env.admin, ns, 'web', ['ErrImagePull', 'ImagePullBackOff']);
  const meta = failure.pod.metadata;
  const pod = { namespace: ns, name: meta?.name ?? '', uid: meta?.uid };
  return {
    img,
    input: {
      digest: img.digest,
      imageRef: ref,
      node: 'node-2',
      pod,
      container: failure.container,
      reason: failure.reason,
    },
  };
}

/** The proof of a salvage: the Deployment's replacement pod runs on node-2 from the digest, its app's log shows. */
async function runsOnTarget(ns: string, img: BuiltImage): Promise<void> {
  const running = await awaitRunning(env.admin, ns, 'web', { node: 'node-2', digest: img.digest });
  expect(await podLog(env.admin, running.pod)).toMatch(/tote fixture \w+: up/);
}

async function start(input: SalvageInput): Promise<WorkflowHandle<typeof salvageImage>> {
  return env.client.workflow.start(salvageImage, salvageStartOptions(input));
}

function signalAgent(node: string, sig: NodeJS.Signals): void {
  const pid = env.agents.find((a) => a.node === node)?.managed.child.pid;
  if (pid) process.kill(-pid, sig);
}

/** Ingests in progress on node-2 (containerd's ListStatuses over its socket: fast enough to poll often). */
async function partialIngests(): Promise<number> {
  const client = new ContentClient(`unix://${env.sb.node('node-2').socket}`, credentials.createInsecure());
  const md = new Metadata();
  md.set('containerd-namespace', 'k8s.io');
  try {
    const res = await new Promise<ListStatusesResponse>((resolve, reject) =>
      client.listStatuses({ filters: [] }, md, (e, r) => (e ? reject(e) : resolve(r))),
    );
    return res.statuses.filter((st) => Number(st.offset) > 0).length;
  } finally {
    client.close();
  }
}

/**
 * Catches the transfer in the middle, without depending on its speed: the source agent is slowed down (SIGSTOP
 * most of the time) until node-2 has committed a layer and holds a partial one, then frozen.
 * Returns the layers committed by then and a `resume` that lets the source run at full speed again.
 */
async function midTransfer(img: BuiltImage): Promise<{ committed: Set<string>; resume(): void }> {
  const layers = new Set(img.layerDigests);
  let throttling = true;
  const throttle = (async () => {
    while (throttling) {
      signalAgent('node-1', 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 300));
      if (!throttling) break;
      signalAgent('node-1', 'SIGCONT');
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    const committedLayers = async (): Promise<number> =>
      (await listContent(env.sb.node('node-2'))).filter((d) => layers.has(d)).length;
    await waitFor(
      'a committed layer and a partial ingest on node-2',
      async () => (await partialIngests()) > 0 && (await committedLayers()) > 0,
      300_000,
    );
  } finally {
    throttling = false;
    await throttle;
  }
  signalAgent('node-1', 'SIGSTOP');
  const committed = new Set((await listContent(env.sb.node('node-2'))).filter((d) => layers.has(d)));
  expect(committed.size).toBeGreaterThan(0);
  expect(committed.size).toBeLessThan(layers.size);
  return { committed, resume: () => signalAgent('node-1', 'SIGCONT') };
}

async function imageOnTarget(ref: string): Promise<string | undefined> {
  return (await listImages(env.sb.node('node-2'))).find((r) => r.name === ref)?.digest;
}

test(
  'given an image only on node-1, should salvage it onto node-2 with record, events, restart, backup and webhooks',
  async () => {
    const { img, input } = await scenario('shop', 1, 8 << 20);
    const handle = await start(input);
    const result = await handle.result();

    expect(result).toMatchObject({ outcome: 'salvaged', source: 'node-1', podRestarted: true });
    expect(await imageOnTarget(input.imageRef)).toBe(img.digest);
    const records = await salvageRecords(env.admin, 'shop');
    expect(records).toHaveLength(1);
    expect(records[0]?.spec).toMatchObject({
      digest: img.digest,
      sourceNode: 'node-1',
      targetNode: 'node-2',
      workflowId: handle.workflowId,
    });
    expect(records[0]?.status).toMatchObject({ phase: 'Completed', bytes: img.totalSize });

    const events = (await podEvents(env.admin, 'shop', input.pod.name)).filter(isToteEvent);
    expect(events.map((e) => e.reason)).toEqual(['ImageSalvageable', 'ImageSalvaged', 'ImagePushed']);
    for (const e of events) expect(e.note).toContain(handle.workflowId);
    for (const e of events.filter((x) => x.type === 'Warning'))
      expect(e.note).toContain('This is technical debt');
    // Deleted for the restart (kubelet stops its containers first: gone after their grace period).
    await waitFor('the failed pod to be gone', () => podGone(env.admin, 'shop', input.pod.name), 60_000);
    await runsOnTarget('shop', img);

    const registry = env.sb.registry;
    if (!registry) throw new Error('the sandbox has no registry');
    const backup = await registryGet(registry, '/v2/shop/web/manifests/1.0', { accept: MANIFEST_ACCEPT });
    expect(backup.status).toBe(200);
    expect(backup.headers['docker-content-digest']).toBe(img.digest);

    const hooks = env.receiver.deliveries.filter((d) => d.workflowId === handle.workflowId);
    expect(hooks.map((d) => d.event)).toEqual(['detected', 'pushed', 'salvaged']);
    expect(hooks.every((d) => d.signatureValid)).toBe(true);
    expect(await metricValue(env.worker.metricsUrl, 'tote_salvage_successes_total')).toBeGreaterThanOrEqual(
      1,
    );

    // The operator's view through the Temporal CLI: search attributes, describe, and the progress query.
    const listed = await temporalCli(env.sb.temporal, [
      'workflow',
      'list',
      '--query',
      `ImageDigest="${img.digest}"`,
      '--output',
      'json',
    ]);
    expect(listed).toContain(handle.workflowId);
    const described = await temporalCli(env.sb.temporal, [
      'workflow',
      'describe',
      '--workflow-id',
      handle.workflowId,
    ]);
    expect(described).toContain('Salvage registry.gone.test/shop/web:1.0 onto node-2');
    const queried = await temporalCli(env.sb.temporal, [
      'workflow',
      'query',
      '--workflow-id',
      handle.workflowId,
      '--type',
      'progress',
      '--output',
      'json',
    ]);
    expect(queried).toContain('"phase": "Completed"');
    expect((await handle.query(progressQuery)).bytesTotal).toBe(img.totalSize);
  },
  TIMEOUT,
);

test(
  'given the worker SIGKILLed mid-transfer, should finish after restart without re-sending committed blobs',
  async () => {
    const { img, input } = await scenario('kill-worker', 1, 48 << 20);
    const target = env.agents.find((a) => a.node === 'node-2')?.metricsUrl ?? '';
    const receivedBefore = await metricValue(target, 'tote_agent_bytes_received_total');
    const handle = await start(input);
    const { committed, resume } = await midTransfer(img);
    await env.worker.kill();
    resume();
    await env.worker.start();
    const result = await handle.result();

    expect(result.outcome).toBe('salvaged');
    expect(await imageOnTarget(input.imageRef)).toBe(img.digest);
    expect(await salvageRecords(env.admin, 'kill-worker')).toHaveLength(1);
    await runsOnTarget('kill-worker', img);
    // Committed blobs are not fetched again (the successful import counts them as already there); bytes in
    // flight when the worker died (flow-control windows, an unflushed chunk) may cross twice, less than a blob.
    const received = (await metricValue(target, 'tote_agent_bytes_received_total')) - receivedBefore;
    const biggest = Math.max(...img.platforms.flatMap((p) => p.layers.map((l) => l.size)));
    expect(received).toBeLessThan(img.totalSize + biggest);
    const events = await podEvents(env.admin, 'kill-worker', input.pod.name);
    const skipped = Number(
      /(\d+) blobs already there/.exec(events.find((e) => e.reason === 'ImageSalvaged')?.note ?? '')?.[1],
    );
    expect(skipped).toBeGreaterThanOrEqual(committed.size);
  },
  TIMEOUT,
);

test(
  'given the Temporal dev server killed and restarted mid-transfer, should complete exactly once',
  async () => {
    const ns = `kill-temporal-${randomBytes(2).toString('hex')}`;
    const { img, input } = await scenario(ns, 1, 48 << 20);
    const handle = await start(input);
    const { resume } = await midTransfer(img);
    await env.sb.temporal.restart({ kill: true });
    resume();
    await env.reconnect();
    const result = await env.client.workflow.getHandle<typeof salvageImage>(handle.workflowId).result();

    expect(result.outcome).toBe('salvaged');
    expect(await imageOnTarget(input.imageRef)).toBe(img.digest);
    expect(await salvageRecords(env.admin, ns)).toHaveLength(1);
    await runsOnTarget(ns, img);
  },
  TIMEOUT,
);

test(
  'given SIGTERM mid-transfer, the worker should exit cleanly and hand the transfer back',
  async () => {
    const { img, input } = await scenario('sigterm', 1, 48 << 20);
    const handle = await start(input);
    const { resume } = await midTransfer(img);
    await env.worker.stop(); // the source is frozen: the transfer cannot finish within the grace time
    expect(await env.worker.managed.exited).toBe(0);
    resume();
    await env.worker.start();
    const result = await handle.result();

    expect(result.outcome).toBe('salvaged');
    expect(await imageOnTarget(input.imageRef)).toBe(img.digest);
    expect(await salvageRecords(env.admin, 'sigterm')).toHaveLength(1);
    await runsOnTarget('sigterm', img);
  },
  TIMEOUT,
);
