import { ApiException, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { startKube, type Kube } from '../harness/kube.js';
import {
  createDeployment,
  createNamespace,
  createPod,
  kubeletImage,
  registerNode,
  setPodImageFailure,
  updateNodeImages,
} from '../harness/pods.js';
import { waitFor } from '../harness/ports.js';
import { Run } from '../harness/run.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

let run: Run;
let kube: Kube | undefined;
let kc: KubeConfig;

beforeAll(async () => {
  run = Run.create('e2e-kube');
  try {
    kube = await startKube(run);
  } catch (err) {
    console.error(run.tailLogs());
    throw err;
  }
  console.log(`etcd+kube-apiserver ready in ${kube.startupMs} ms (${kube.server})`);
  kc = kube.kubeConfig();
}, 120_000);

afterAll(async () => {
  await run.stop();
});

function loadKubeconfig(file: string): KubeConfig {
  const k = new KubeConfig();
  k.loadFromFile(file);
  return k;
}

async function statusOf(fn: () => Promise<unknown>): Promise<number> {
  try {
    await fn();
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

test('given a registered node, a pod bound to it reports ErrImagePull as kubelet would', async () => {
  const image = 'registry.invalid/tote/app:v1';
  await registerNode(kc, {
    name: 'node-a',
    images: [
      kubeletImage({ repo: 'registry.invalid/tote/app', digest: DIGEST, tags: ['v1'], sizeBytes: 1234 }),
    ],
  });
  await createNamespace(kc, 'shop', { 'tote.dev/allow': 'true' });
  await createPod(kc, { namespace: 'shop', name: 'web', nodeName: 'node-a', image });
  await setPodImageFailure(kc, { namespace: 'shop', name: 'web', container: 'app', reason: 'ErrImagePull' });

  const core = kc.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ namespace: 'shop', name: 'web' });
  expect(pod.spec?.nodeName).toBe('node-a');
  expect(pod.status?.phase).toBe('Pending');
  const [cs] = pod.status?.containerStatuses ?? [];
  expect(cs).toMatchObject({ name: 'app', image, imageID: '', ready: false, restartCount: 0 });
  expect(cs?.state?.waiting?.reason).toBe('ErrImagePull');
  expect(cs?.state?.waiting?.message).toContain(image);

  const node = await core.readNode({ name: 'node-a' });
  expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  expect(node.status?.images?.[0]?.names).toEqual([
    `registry.invalid/tote/app@${DIGEST}`,
    'registry.invalid/tote/app:v1',
  ]);
  await updateNodeImages(kc, { name: 'node-a', images: [] });
  expect((await core.readNode({ name: 'node-a' })).status?.images ?? []).toEqual([]);
});

test('given a deployment chain, an init container reports ImagePullBackOff with owner references intact', async () => {
  await createNamespace(kc, 'chain');
  const { deployment, replicaSet, pod } = await createDeployment(kc, {
    namespace: 'chain',
    name: 'api',
    nodeName: 'node-a',
    image: 'registry.invalid/tote/api:v2',
    annotations: { 'tote.dev/auto-salvage': 'true' },
    initContainer: { name: 'migrate', image: 'registry.invalid/tote/migrate:v2' },
  });
  expect(replicaSet.metadata?.ownerReferences?.[0]).toMatchObject({
    kind: 'Deployment',
    uid: deployment.metadata?.uid,
    controller: true,
  });
  expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({
    kind: 'ReplicaSet',
    uid: replicaSet.metadata?.uid,
  });

  const patched = await setPodImageFailure(kc, {
    namespace: 'chain',
    name: pod.metadata?.name ?? '',
    container: 'migrate',
    reason: 'ImagePullBackOff',
  });
  expect(patched.status?.initContainerStatuses?.[0]?.state?.waiting?.reason).toBe('ImagePullBackOff');
  expect(patched.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
  expect(patched.status?.conditions?.find((c) => c.type === 'Initialized')?.status).toBe('False');

  // No kubelet confirms deletions: the harness's zero grace period is what lets a delete take effect.
  const core = kc.makeApiClient(CoreV1Api);
  await core.deleteNamespacedPod({ namespace: 'chain', name: pod.metadata?.name ?? '' });
  expect(
    await statusOf(() => core.readNamespacedPod({ namespace: 'chain', name: pod.metadata?.name ?? '' })),
  ).toBe(404);
});

test('given a ServiceAccount, RBAC refuses listing pods until a RoleBinding grants it', async () => {
  const file = await kube!.mintKubeconfig({ namespace: 'rbac', serviceAccount: 'reader' });
  const asReader = loadKubeconfig(file).makeApiClient(CoreV1Api);
  const list = (): Promise<unknown> => asReader.listNamespacedPod({ namespace: 'rbac' });

  expect(await statusOf(list)).toBe(403);

  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: 'rbac',
    body: {
      metadata: { name: 'pod-reader' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: 'rbac',
    body: {
      metadata: { name: 'reader-reads-pods' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'rbac' }],
    },
  });
  // The RBAC authorizer reads bindings from an informer cache: the grant becomes visible shortly after creation.
  await waitFor('the RoleBinding to take effect', async () => (await statusOf(list)) === 200);
  expect(await statusOf(() => asReader.listNamespacedPod({ namespace: 'default' }))).toBe(403);
});
