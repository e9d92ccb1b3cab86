import type { KubeReader } from '../infra/doctor-kube.js';
import { KubeHttpError } from '../infra/kube-http.js';
import { parseDoctorConfig, runDoctor, type DoctorDeps } from './doctor.js';

const RELEASE = 'app.kubernetes.io/instance=tote';
const labels = (component: string): object => ({ 'app.kubernetes.io/component': component });

/** An API server holding a healthy release in namespace tote, seen by an admin. */
const CLUSTER: Record<string, unknown> = {
  '/version': { gitVersion: 'v1.34.4' },
  '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/salvagerecords.tote.dev': {
    status: {
      conditions: [
        { type: 'NamesAccepted', status: 'True' },
        { type: 'Established', status: 'True' },
      ],
    },
  },
  '/api/v1/namespaces': {
    items: [{ metadata: { name: 'shop', annotations: { 'tote.dev/allow': 'true' } } }],
  },
  '/apis/apps/v1/namespaces/tote/deployments': {
    items: ['controller', 'worker'].map((c) => ({
      metadata: { name: `tote-${c}`, labels: labels(c) },
      spec: { replicas: 1, template: { spec: { serviceAccountName: `tote-${c}` } } },
      status: { readyReplicas: 1 },
    })),
  },
  '/apis/apps/v1/namespaces/tote/daemonsets': {
    items: [
      {
        metadata: { name: 'tote-agent', labels: labels('agent') },
        status: { desiredNumberScheduled: 2, numberReady: 2 },
      },
    ],
  },
  '/api/v1/namespaces/tote/pods': {
    items: ['n1', 'n2'].map((n, i) => ({
      spec: { nodeName: n },
      status: { podIP: `10.1.0.${i + 1}`, conditions: [{ type: 'Ready', status: 'True' }] },
    })),
  },
};

function kube(routes: Record<string, unknown>): KubeReader & { closed: boolean } {
  const k = {
    closed: false,
    server: 'https://kube.test',
    close: () => void (k.closed = true),
    get: async <T>(path: string): Promise<T | null> => {
      const r = routes[path];
      if (r instanceof Error) throw r;
      return (r ?? null) as T | null;
    },
    post: async <T>(path: string): Promise<T> =>
      (path.endsWith('selfsubjectreviews')
        ? { status: { userInfo: { username: 'kubernetes-admin' } } }
        : { status: { allowed: true } }) as T,
  };
  return k;
}

function temporal(): NonNullable<DoctorDeps['connectTemporal']> {
  const attrs = { ImageDigest: 2, TargetNode: 2, PodNamespace: 2, PodName: 2, SalvagePhase: 2 };
  return async () => ({
    close: async () => undefined,
    workflowService: {
      describeNamespace: async () => ({}),
      describeTaskQueue: async () => ({ pollers: [{ identity: '1@tote-worker-abc' }] }),
    },
    operatorService: { listSearchAttributes: async () => ({ customAttributes: attrs }) },
  });
}

const inCluster = parseDoctorConfig(
  { agentNamespace: 'tote', agentSelector: `${RELEASE},app.kubernetes.io/component=agent` },
  {},
);

test('given a healthy release seen by an admin, should check both ServiceAccounts, the workloads and every agent', async () => {
  const k = kube(CLUSTER);
  const dialled: string[] = [];
  const dial = async (address: string): Promise<number> => (dialled.push(address), 4);
  const report = await runDoctor(inCluster, {}, { kube: k, dial, connectTemporal: temporal() });
  expect(report.checks.filter((c) => c.status !== 'pass')).toEqual([]);
  expect(report.checks.map((c) => c.name)).toEqual([
    'kube-access',
    'rbac/controller',
    'rbac/worker',
    'crd',
    'namespaces',
    'controller',
    'worker',
    'agents',
    'agent/n1',
    'agent/n2',
    'versions',
    'temporal',
    'task-queue',
    'search-attributes',
  ]);
  expect(report.healthy).toBe(true);
  expect(dialled.sort()).toEqual(['10.1.0.1:9443', '10.1.0.2:9443']);
  expect(k.closed).toBe(true);
});

test('given an unreachable API server, should leave out the Kubernetes checks that depend on it', async () => {
  const k = kube({ '/version': new KubeHttpError(503, 'GET /version: HTTP 503') });
  const report = await runDoctor(
    inCluster,
    {},
    { kube: k, dial: async () => 1, connectTemporal: temporal() },
  );
  expect(report.checks.map((c) => [c.name, c.status])).toEqual([
    ['kube-access', 'fail'],
    ['temporal', 'pass'],
    ['task-queue', 'pass'],
    ['search-attributes', 'pass'],
  ]);
  expect(report.healthy).toBe(false);
});

test('given no client certificate, should say that agents were not checked instead of dialling them', async () => {
  const report = await runDoctor(inCluster, {}, { kube: kube(CLUSTER), connectTemporal: temporal() });
  const row = report.checks.find((c) => c.name === 'agents-mtls');
  expect(row).toMatchObject({ ok: false, detail: '2 agents not checked: no client certificate' });
  expect(row?.hint).toContain('kubectl exec deploy/<release>-worker -- tote doctor');
  expect(report.checks.some((c) => c.name.startsWith('agent/'))).toBe(false);
});

test('given a release without a controller Deployment, should fail that row only', async () => {
  const routes = { ...CLUSTER };
  const deployments = routes['/apis/apps/v1/namespaces/tote/deployments'] as {
    items: { metadata: { name: string } }[];
  };
  routes['/apis/apps/v1/namespaces/tote/deployments'] = {
    items: deployments.items.filter((d) => d.metadata.name !== 'tote-controller'),
  };
  const report = await runDoctor(
    inCluster,
    {},
    { kube: kube(routes), dial: async () => 1, connectTemporal: temporal() },
  );
  expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['controller']);
});

test('given components of another version than doctor, should name each version and warn without failing', async () => {
  const routes = { ...CLUSTER };
  routes['/api/v1/namespaces/tote/pods'] = {
    items: [
      ['controller', 'tote-controller-1', '10.1.1.1'],
      ['worker', 'tote-worker-1', '10.1.1.2'],
      ['agent', 'tote-agent-a', '10.1.0.1'],
      ['agent', 'tote-agent-b', '10.1.0.2'],
    ].map(([component, name, ip]) => ({
      metadata: { name, labels: labels(component as string) },
      spec: { nodeName: 'n1', containers: [{ ports: [{ name: 'metrics', containerPort: 9090 }] }] },
      status: { podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
    })),
  };
  const served: Record<string, string> = {
    'http://10.1.1.1:9090/metrics': 'tote_build_info{version="0.2.0",component="controller"} 1\n',
    'http://10.1.1.2:9090/metrics': 'tote_build_info{version="0.2.0",component="worker"} 1\n',
    'http://10.1.0.1:9090/metrics': 'tote_build_info{version="0.1.0",component="agent"} 1\n',
  };
  const fetchText = async (url: string): Promise<string> => {
    const body = served[url];
    if (body === undefined) throw new Error('connect ECONNREFUSED');
    return body;
  };
  const report = await runDoctor(
    inCluster,
    {},
    { kube: kube(routes), dial: async () => 1, connectTemporal: temporal(), fetchText, version: '0.2.0' },
  );
  const row = report.checks.find((c) => c.name === 'versions');
  expect(row).toMatchObject({
    status: 'warn',
    detail:
      'doctor 0.2.0; 0.1.0: agent/tote-agent-a; unknown (connect ECONNREFUSED): agent/tote-agent-b; 0.2.0: controller/tote-controller-1, worker/tote-worker-1',
  });
  expect(row?.hint).toContain('components run 0.1.0, doctor runs 0.2.0');
  expect(report.healthy).toBe(true);
});
