import {
  checkCrd,
  checkKubeAccess,
  checkNamespaces,
  crdResult,
  listWorkloads,
  releaseSelector,
  workloadCheck,
  type KubeReader,
  type Workload,
} from './doctor-kube.js';
import { KubeHttpError } from './kube-http.js';

/** A reader answering GETs from `routes` (an Error is thrown, a missing path is a 404) and POSTs with `post`. */
function fakeKube(
  routes: Record<string, unknown>,
  post?: (path: string, body: unknown) => unknown,
): KubeReader {
  return {
    server: 'https://kube.test:6443',
    get: async <T>(path: string): Promise<T | null> => {
      const r = routes[path];
      if (r instanceof Error) throw r;
      return (r ?? null) as T | null;
    },
    post: async <T>(path: string, body: unknown): Promise<T> => {
      if (!post) throw new KubeHttpError(404, `POST ${path}: not found`);
      return post(path, body) as T;
    },
  };
}

const established = {
  spec: { versions: [{ name: 'v1alpha1', served: true }] },
  status: {
    conditions: [
      { type: 'NamesAccepted', status: 'True' },
      { type: 'Established', status: 'True' },
    ],
  },
};
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/salvagerecords.tote.dev';

describe('kube-access', () => {
  test('given a reachable server, should name it, its version and who we are', async () => {
    const kube = fakeKube({ '/version': { gitVersion: 'v1.34.4' } }, () => ({
      status: { userInfo: { username: 'system:serviceaccount:tote:tote-worker' } },
    }));
    const { result, user } = await checkKubeAccess(kube);
    expect(result).toMatchObject({
      status: 'pass',
      detail: expect.stringContaining('v1.34.4 as system:serviceaccount'),
    });
    expect(user).toBe('system:serviceaccount:tote:tote-worker');
  });

  test('given no SelfSubjectReview, should still pass without an identity', async () => {
    const { result, user } = await checkKubeAccess(fakeKube({ '/version': { gitVersion: 'v1.27.0' } }));
    expect(result.status).toBe('pass');
    expect(user).toBeUndefined();
  });

  test('given rejected credentials, should fail with a hint about the token', async () => {
    const kube = fakeKube({ '/version': new KubeHttpError(401, 'GET /version: HTTP 401 Unauthorized') });
    const { result } = await checkKubeAccess(kube);
    expect(result).toMatchObject({ ok: false, hint: expect.stringContaining('credentials') });
  });
});

describe('crd', () => {
  test('given the CRD established, should pass and list its versions', async () => {
    expect(await checkCrd(fakeKube({ [CRD_PATH]: established }))).toMatchObject({
      status: 'pass',
      detail: 'salvagerecords.tote.dev established (v1alpha1)',
    });
  });

  test('given no CRD, should fail with the kubectl apply hint', async () => {
    const r = await checkCrd(fakeKube({}));
    expect(r).toMatchObject({ ok: false, detail: 'salvagerecords.tote.dev is not installed' });
    expect(r.hint).toContain('kubectl apply -f charts/tote/crds/');
  });

  test('given a name conflict, should fail on NamesAccepted with its message', () => {
    const crd = {
      status: { conditions: [{ type: 'NamesAccepted', status: 'False', message: 'plural taken' }] },
    };
    expect(crdResult(crd).detail).toBe('salvagerecords.tote.dev is not NamesAccepted: plural taken');
    expect(crdResult({ status: {} }).detail).toContain('not NamesAccepted: no condition yet');
  });

  test('given no read access to CRDs, should fall back to discovery', async () => {
    const forbidden = new KubeHttpError(403, 'forbidden');
    const served = { '/apis/tote.dev/v1alpha1': { resources: [{ name: 'salvagerecords' }] } };
    expect((await checkCrd(fakeKube({ [CRD_PATH]: forbidden, ...served }))).detail).toContain('discovery');
    expect((await checkCrd(fakeKube({ [CRD_PATH]: forbidden }))).ok).toBe(false);
    await expect(checkCrd(fakeKube({ [CRD_PATH]: new KubeHttpError(500, 'oops') }))).rejects.toThrow('oops');
  });
});

describe('namespaces', () => {
  const ns = (name: string, allow?: string): object => ({
    metadata: { name, annotations: allow === undefined ? {} : { 'tote.dev/allow': allow } },
  });

  test('given none opted in (kube-system does not count), should warn with the annotate command', async () => {
    const kube = fakeKube({
      '/api/v1/namespaces': { items: [ns('kube-system', 'true'), ns('a', 'false'), ns('b')] },
    });
    const r = await checkNamespaces(kube);
    expect(r).toMatchObject({ ok: true, status: 'warn' });
    expect(r.hint).toContain('kubectl annotate namespace <NAMESPACE> tote.dev/allow=true');
  });

  test('given some opted in, should pass and name them', async () => {
    const kube = fakeKube({
      '/api/v1/namespaces': { items: [ns('shop', 'true'), ns('cart', 'true'), ns('x')] },
    });
    expect(await checkNamespaces(kube)).toMatchObject({ status: 'pass', detail: '2 opted in: cart, shop' });
  });
});

describe('workloads', () => {
  const scope = { namespace: 'tote', selector: 'app.kubernetes.io/instance=tote' };
  const w = (over: Partial<Workload>): Workload => ({
    kind: 'Deployment',
    name: 'tote-worker',
    component: 'worker',
    desired: 2,
    ready: 2,
    ...over,
  });

  test('the release selector should drop the component term', () => {
    expect(releaseSelector('app.kubernetes.io/instance=tote,app.kubernetes.io/component=agent')).toBe(
      'app.kubernetes.io/instance=tote',
    );
    expect(releaseSelector('app.kubernetes.io/component=agent')).toBe('app.kubernetes.io/part-of=tote');
  });

  test('given all replicas ready, should pass; some ready warns; none ready fails', () => {
    expect(workloadCheck('worker', w({}), scope)).toMatchObject({
      status: 'pass',
      detail: 'deploy/tote-worker: 2/2 ready',
    });
    expect(workloadCheck('worker', w({ ready: 1 }), scope).status).toBe('warn');
    const down = workloadCheck('worker', w({ ready: 0 }), scope);
    expect(down.status).toBe('fail');
    expect(down.hint).toContain('kubectl -n tote describe deploy/tote-worker');
    expect(workloadCheck('worker', w({ desired: 0, ready: 0 }), scope).detail).toContain('scaled to 0');
  });

  test('given an agent missing on one node, the DaemonSet should fail', () => {
    const ds = w({ kind: 'DaemonSet', name: 'tote-agent', component: 'agent', desired: 3, ready: 2 });
    expect(workloadCheck('agents', ds, scope)).toMatchObject({
      ok: false,
      detail: 'ds/tote-agent: 2/3 ready',
    });
  });

  test('given no Deployment, should fail and point at the chart or the URL flag', () => {
    const r = workloadCheck('controller', undefined, scope);
    expect(r.ok).toBe(false);
    expect(r.hint).toContain('--controller-url');
  });

  test('listWorkloads should read counts and ServiceAccounts of Deployments and DaemonSets', async () => {
    const kube = fakeKube({
      '/apis/apps/v1/namespaces/tote/deployments': {
        items: [
          {
            metadata: { name: 'tote-worker', labels: { 'app.kubernetes.io/component': 'worker' } },
            spec: { replicas: 1, template: { spec: { serviceAccountName: 'tote-worker' } } },
            status: { readyReplicas: 1 },
          },
        ],
      },
      '/apis/apps/v1/namespaces/tote/daemonsets': {
        items: [
          {
            metadata: { name: 'tote-agent', labels: { 'app.kubernetes.io/component': 'agent' } },
            status: { desiredNumberScheduled: 3, numberReady: 3 },
          },
        ],
      },
    });
    expect(await listWorkloads(kube, 'tote', 'app.kubernetes.io/instance=tote')).toEqual([
      {
        kind: 'Deployment',
        name: 'tote-worker',
        component: 'worker',
        desired: 1,
        ready: 1,
        serviceAccount: 'tote-worker',
      },
      {
        kind: 'DaemonSet',
        name: 'tote-agent',
        component: 'agent',
        desired: 3,
        ready: 3,
        serviceAccount: undefined,
      },
    ]);
  });
});
