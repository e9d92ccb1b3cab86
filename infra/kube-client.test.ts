// The kube adapter against a real etcd + kube-apiserver (the harness's), with the chart's CRD and the worker's
// RBAC: an adapter test against a fake would not catch what matters here (MicroTime, status subresource, 409s).
import { CoreV1Api, CustomObjectsApi, EventsV1Api, KubeConfig } from '@kubernetes/client-node';
import { installChartIdentities } from '../test/harness/chart-rbac.js';
import { startKube, type Kube } from '../test/harness/kube.js';
import {
  createDeployment,
  createNamespace,
  createPod,
  registerNode,
  kubeletImage,
} from '../test/harness/pods.js';
import { Run } from '../test/harness/run.js';
import { KubeClient, SALVAGE_RECORDS } from './kube-client.js';

const DIGEST = `sha256:${'cd'.repeat(32)}`;

let run: Run;
let kube: Kube;
let admin: KubeConfig;
let client: KubeClient;

beforeAll(async () => {
  run = Run.create('kube-client');
  try {
    kube = await startKube(run);
    admin = kube.kubeConfig();
    const ids = await installChartIdentities(kube);
    const worker = new KubeConfig();
    worker.loadFromFile(ids.workerKubeconfig);
    client = new KubeClient(worker, {
      agentNamespace: 'tote-system',
      agentSelector: 'app=agent',
      instance: 'w-1',
    });
  } catch (err) {
    console.error(run.tailLogs());
    throw err;
  }
}, 300_000);

afterAll(async () => {
  await run?.stop();
});

test('given an opted-in deployment, should read namespace, pod and both owner levels as the worker', async () => {
  await createNamespace(admin, 'shop', { 'tote.dev/allow': 'true' });
  const chain = await createDeployment(admin, {
    namespace: 'shop',
    name: 'web',
    nodeName: 'node-k',
    image: 'registry.invalid/web:1',
    annotations: { 'tote.dev/auto-salvage': 'true' },
  });
  const ns = await client.getNamespace('shop');
  expect(ns?.annotations['tote.dev/allow']).toBe('true');
  const pod = await client.getPod({ namespace: 'shop', name: chain.pod.metadata?.name ?? '' });
  const rsRef = pod?.ownerReferences[0];
  expect(rsRef?.kind).toBe('ReplicaSet');
  const rs = await client.getOwner('shop', rsRef!);
  expect(rs?.ownerReferences[0]?.kind).toBe('Deployment');
  const dep = await client.getOwner('shop', rs!.ownerReferences[0]!);
  expect(dep?.annotations['tote.dev/auto-salvage']).toBe('true');
  expect(await client.getPod({ namespace: 'shop', name: 'missing' })).toBeNull();
  expect(await client.getOwner('shop', { kind: 'Widget', name: 'x' })).toBeNull();
});

test('given a pod, should record a Warning event through events.k8s.io/v1 with a MicroTime', async () => {
  await createNamespace(admin, 'ev', {});
  const pod = await createPod(admin, {
    namespace: 'ev',
    name: 'p1',
    nodeName: 'node-k',
    image: 'registry.invalid/x:1',
  });
  const ref = { namespace: 'ev', name: 'p1', uid: pod.metadata?.uid };
  await client.createEvent({
    pod: ref,
    type: 'Warning',
    reason: 'ImageSalvageable',
    action: 'Detected',
    message: 'm',
  });
  const list = await admin.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'ev' });
  const ev = list.items.find((e) => e.reason === 'ImageSalvageable');
  expect(ev?.regarding?.uid).toBe(pod.metadata?.uid);
  expect(ev?.reportingController).toBe('tote.dev/worker');
});

test('given a SalvageRecord written twice, should keep one with its status, list and delete it', async () => {
  await createNamespace(admin, 'rec', {});
  const rec = {
    namespace: 'rec',
    name: 'salvage-cdcdcdcdcdcd-node-a-12345678',
    spec: {
      digest: DIGEST,
      imageRef: 'x:1',
      podName: 'p',
      sourceNode: 'a',
      targetNode: 'b',
      workflowId: 'w',
    },
    status: { phase: 'Completed', bytes: 42, durationSeconds: 1.5, completedAt: new Date().toISOString() },
  };
  const { signal } = new AbortController(); // the activities always pass one: it must not break the patch
  expect(await client.createSalvageRecord(rec, { signal })).toBe(true);
  expect(await client.createSalvageRecord(rec, { signal })).toBe(false);
  const got = (await admin
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObject({ ...SALVAGE_RECORDS, namespace: 'rec', name: rec.name })) as {
    status: { bytes: number };
  };
  expect(got.status.bytes).toBe(42);
  const listed = await client.listSalvageRecords();
  expect(listed.map((r) => r.name)).toContain(rec.name);
  expect(Date.parse(listed[0]!.createdAt)).toBeGreaterThan(0);
  expect(await client.deleteSalvageRecord('rec', rec.name)).toBe(true);
  expect(await client.deleteSalvageRecord('rec', rec.name)).toBe(false);
});

test('given a pod uid that no longer matches, should not delete the replacement', async () => {
  await createNamespace(admin, 'del', {});
  const pod = await createPod(admin, {
    namespace: 'del',
    name: 'p2',
    nodeName: 'node-k',
    image: 'registry.invalid/x:1',
  });
  expect(await client.deletePod({ namespace: 'del', name: 'p2', uid: 'not-the-uid' })).toBe(false);
  expect(await client.deletePod({ namespace: 'del', name: 'p2', uid: pod.metadata?.uid })).toBe(true);
  expect(await client.deletePod({ namespace: 'del', name: 'p2' })).toBe(false);
});

test('given nodes with images, should flatten their names', async () => {
  await registerNode(admin, {
    name: 'node-k',
    images: [kubeletImage({ repo: 'registry.invalid/app', digest: DIGEST, tags: ['v1'], sizeBytes: 10 })],
  });
  const nodes = await client.listNodes();
  expect(nodes.find((n) => n.name === 'node-k')?.imageNames).toContain(`registry.invalid/app@${DIGEST}`);
});

test('given a live signal, should call through; given an aborted one, should reject with an abort', async () => {
  const live = new AbortController();
  await expect(client.listNodes({ signal: live.signal })).resolves.toBeDefined();
  await expect(client.getNamespace('shop', { signal: live.signal })).resolves.not.toBeNull();
  const ac = new AbortController();
  ac.abort();
  const err = await client.listNodes({ signal: ac.signal }).catch((e: unknown) => e);
  expect(String((err as Error).name)).toMatch(/Abort/);
  await expect(admin.makeApiClient(CoreV1Api).listNode()).resolves.toBeDefined();
});
