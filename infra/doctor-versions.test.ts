import type { KubeReader } from './doctor-kube.js';
import { checkVersions, versionTargets, type VersionTarget } from './doctor-versions.js';

function kubeWith(items: unknown[]): KubeReader & { asked: unknown[] } {
  const asked: unknown[] = [];
  return {
    asked,
    server: 'https://kube.test',
    get: async <T>(path: string, query?: unknown): Promise<T | null> => {
      asked.push([path, query]);
      return { items } as T;
    },
    post: async <T>(): Promise<T> => ({}) as T,
  };
}

const pod = (component: string, name: string, ip?: string, port?: number): object => ({
  metadata: { name, labels: { 'app.kubernetes.io/component': component } },
  spec: {
    containers: [
      {
        ports: port
          ? [
              { name: 'grpc', containerPort: 9443 },
              { name: 'metrics', containerPort: port },
            ]
          : [],
      },
    ],
  },
  status: ip ? { podIP: ip } : {},
});

describe('versions', () => {
  test('given the release pods, should read the metrics port of each pod that has an IP and one', async () => {
    const kube = kubeWith([
      pod('worker', 'w-1', '10.0.0.2', 9090),
      pod('agent', 'a-1', 'fd00::7', 9100),
      pod('controller', 'c-1', undefined, 9090),
      pod('controller', 'c-2', '10.0.0.3'),
    ]);
    const targets = await versionTargets(kube, {
      namespace: 'tote',
      selector: 'app.kubernetes.io/part-of=tote',
    });
    expect(targets).toEqual([
      { component: 'agent', pod: 'a-1', url: 'http://[fd00::7]:9100/metrics' },
      { component: 'worker', pod: 'w-1', url: 'http://10.0.0.2:9090/metrics' },
    ]);
    expect(kube.asked).toEqual([
      ['/api/v1/namespaces/tote/pods', { labelSelector: 'app.kubernetes.io/part-of=tote' }],
    ]);
  });

  test("given every component on doctor's version, should pass and count the pods per component", async () => {
    const targets: VersionTarget[] = ['a-1', 'a-2', 'a-3'].map((p) => ({
      component: 'agent',
      pod: p,
      url: p,
    }));
    targets.push({ component: 'controller', pod: 'c-1', url: 'c-1' });
    const row = await checkVersions(targets, async () => 'tote_build_info{version="0.3.0"} 1\n', '0.3.0');
    expect(row).toEqual({
      name: 'versions',
      ok: true,
      status: 'pass',
      detail: 'doctor 0.3.0; 0.3.0: agent ×3, controller/c-1',
    });
  });

  test('given a component without tote_build_info (a build older than the gauge), should warn', async () => {
    const targets: VersionTarget[] = [{ component: 'worker', pod: 'w-1', url: 'w' }];
    const row = await checkVersions(targets, async () => 'process_cpu_seconds_total 1\n', '0.3.0');
    expect(row).toMatchObject({
      status: 'warn',
      detail: 'doctor 0.3.0; older (no tote_build_info): worker/w-1',
    });
  });

  test('given no pod with a metrics port, should say so and pass', async () => {
    const row = await checkVersions([], async () => '', '0.3.0');
    expect(row).toMatchObject({
      status: 'pass',
      detail: 'doctor 0.3.0; no pod of the release exposes a port named metrics',
    });
  });
});
