// A mixed cluster, as during a node-by-node containerd upgrade: node-1 runs containerd 1.6 (Debian's), node-2
// containerd 2.4.2, each under its own real kubelet. A salvage works in both directions and the pod runs from the
// salvaged image on either runtime.
import type { KubeConfig } from '@kubernetes/client-node';
import { createNamespace } from '../harness/pods.js';
import type { Sandbox } from '../harness/sandbox.js';
import { seedLostImage } from '../harness/scenarios.js';
import { startClusterWithTote } from '../harness/stack.js';
import { applyDeployment, awaitKubeletFailure, awaitRunning, podLog } from '../harness/workloads.js';

const TIMEOUT = 300_000;
let sb: Sandbox;
let admin: KubeConfig;

beforeAll(async () => {
  ({ sb } = await startClusterWithTote({ label: 'e2e-mixed', nodes: 2, containerd: [1, 2] }));
  admin = sb.kube.kubeConfig();
}, TIMEOUT);

afterAll(async () => {
  await sb?.stop();
}, TIMEOUT);

async function story(ns: string, holder: string, target: string): Promise<void> {
  await createNamespace(admin, ns, { 'tote.dev/allow': 'true' });
  const lost = await seedLostImage(sb, { repo: `${ns}/app`, holders: [holder] });
  await applyDeployment(admin, {
    namespace: ns,
    name: 'app',
    image: lost.ref,
    node: target,
    podAnnotations: { 'tote.dev/auto-salvage': 'true' },
  });
  await awaitKubeletFailure(admin, ns, 'app', ['ErrImagePull', 'ImagePullBackOff']);
  const running = await awaitRunning(admin, ns, 'app', { node: target, digest: lost.image.digest });
  expect(await podLog(admin, running.pod)).toMatch(/tote fixture \w+: up/);
}

describe('given node-1 on containerd 1.6 and node-2 on containerd 2.4', () => {
  it('the nodes should report the runtimes they run', async () => {
    expect(sb.nodes.map((n) => n.major)).toEqual([1, 2]);
    const { CoreV1Api } = await import('@kubernetes/client-node');
    const nodes = await admin.makeApiClient(CoreV1Api).listNode();
    const runtimes = Object.fromEntries(
      nodes.items.map((n) => [n.metadata?.name, n.status?.nodeInfo?.containerRuntimeVersion]),
    );
    expect(runtimes['node-1']).toMatch(/^containerd:\/\/1\.6\./);
    expect(runtimes['node-2']).toMatch(/^containerd:\/\/v?2\.4\./);
  });

  it(
    'a 1.6 source should salvage onto a 2.x target and the pod run',
    () => story('mix-up', 'node-1', 'node-2'),
    TIMEOUT,
  );

  it(
    'a 2.x source should salvage onto a 1.6 target and the pod run',
    () => story('mix-down', 'node-2', 'node-1'),
    TIMEOUT,
  );
});
