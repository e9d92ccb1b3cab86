/**
 * The whole story with nobody starting a workflow by hand: a real cluster (kubelets on containerd nodes,
 * scheduler, controller-manager), agents over mTLS, `tote worker` and `tote controller` as processes under the
 * chart's ServiceAccounts. A Deployment's pod fails to pull an image that only node-1's containerd caches; kubelet
 * reports it, the controller starts the salvage, the worker moves the image onto node-2 through the agents, the
 * owned pod is deleted, and the Deployment's new pod runs from the salvaged image.
 *
 * The kubelets report at most 2 images in Node.status.images (`nodeStatusMaxImages`, 50 by default), as a node
 * with many images does: the smallest image on node-1 is then known to its agent only.
 */
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { installChartIdentities, type ChartIdentities } from '../harness/chart-rbac.js';
import { listImages } from '../harness/containerd.js';
import { startToteController, type ControllerProcess } from '../harness/controller.js';
import { buildImage, importToNode } from '../harness/images.js';
import { createNamespace } from '../harness/pods.js';
import { freePort, waitFor } from '../harness/ports.js';
import type { Managed } from '../harness/run.js';
import { startSandbox, type Sandbox } from '../harness/sandbox.js';
import { createTotePki, startAgents, TOTE_BIN, untilReady, type TotePki } from '../harness/tote.js';
import { applyDeployment, awaitKubeletFailure, awaitRunning } from '../harness/workloads.js';
import type { SalvageResult } from '../../workflows/index.js';

const OPT_IN = { 'tote.dev/auto-salvage': 'true' };
const MAX_IMAGES = 2;

let sb: Sandbox;
let kc: KubeConfig;
let ids: ChartIdentities;
let connection: Connection;
let client: Client;
let controller: ControllerProcess;

async function startWorker(pki: TotePki, agentPort: number): Promise<Managed> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const worker = sb.run.spawn({
    name: 'worker',
    cmd: process.execPath,
    args: [
      TOTE_BIN,
      'worker',
      `--kubeconfig=${ids.workerKubeconfig}`,
      `--temporal-address=${sb.temporal.address}`,
      `--agent-endpoint-template={nodeIP}:${agentPort}`,
      `--tls-cert=${pki.worker.cert}`,
      `--tls-key=${pki.worker.key}`,
      `--tls-ca=${pki.ca.cert}`,
      `--metrics-addr=127.0.0.1:${metricsPort}`,
      `--health-port=${healthPort}`,
    ],
  });
  const ready = `http://127.0.0.1:${healthPort}/readyz`;
  await untilReady(
    worker,
    'tote worker',
    async () => (await fetch(ready).catch(() => undefined))?.ok ?? false,
  );
  return worker;
}

beforeAll(async () => {
  sb = await startSandbox({
    label: 'e2e-controller-salvage',
    nodes: 2,
    registry: false,
    kubelets: { config: { nodeStatusMaxImages: MAX_IMAGES } },
  });
  try {
    kc = sb.kube.kubeConfig();
    ids = await installChartIdentities(sb.kube);
    const pki = createTotePki(sb);
    const agents = await startAgents(sb, pki);
    await startWorker(pki, Number(agents[0]?.address.split(':')[1]));
    controller = await startToteController(sb.run, {
      kubeconfig: ids.controllerKubeconfig,
      temporalAddress: sb.temporal.address,
    });
    await createNamespace(kc, 'shop', { 'tote.dev/allow': 'true' });
    connection = await Connection.connect({ address: sb.temporal.address });
    client = new Client({ connection, namespace: sb.temporal.namespace });
    console.log(`controller salvage e2e run: ${sb.run.dir}`);
  } catch (err) {
    console.error(sb.run.tailLogs(40));
    await sb.stop();
    throw err;
  }
}, 600_000);

afterAll(async () => {
  await connection?.close();
  await sb?.stop();
});

async function salvageResult(workflowId: string): Promise<SalvageResult> {
  const handle = client.workflow.getHandle(workflowId);
  await waitFor(
    `workflow ${workflowId} to start`,
    async () => (await handle.describe().catch(() => false)) !== false,
    60_000,
  );
  return (await handle.result()) as SalvageResult;
}

async function podGone(namespace: string, name: string): Promise<boolean> {
  try {
    await kc.makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
    return false;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return true;
    throw err;
  }
}

/** An opted-in Deployment pinned to node-2 whose pod kubelet fails to pull; returns the failed pod's name. */
async function failingDeployment(name: string, image: string): Promise<string> {
  await applyDeployment(kc, { namespace: 'shop', name, node: 'node-2', image, podAnnotations: OPT_IN });
  const failure = await awaitKubeletFailure(kc, 'shop', name, ['ErrImagePull', 'ImagePullBackOff']);
  return failure.pod.metadata?.name ?? '';
}

/** The proof: the Deployment's new pod runs on node-2 from `digest`. */
async function runsOnNode2(name: string, digest: string): Promise<void> {
  const running = await awaitRunning(kc, 'shop', name, { node: 'node-2', digest });
  expect(running.pod.status?.containerStatuses?.[0]?.imageID).toContain(digest);
}

test('given an image cached only on node-1, a failing pod on node-2 is salvaged end to end by the controller', async () => {
  const img = await buildImage(sb.run, { layers: 3, layerSize: 512 << 10, app: {} });
  const repo = 'registry.invalid/tote/shop';
  await importToNode(sb.node('node-1'), img, `${repo}:v1`);
  await sb.syncNodeImages('node-1');
  const podName = await failingDeployment('web', `${repo}@${img.digest}`);

  const result = await salvageResult(`salvage/${img.digest}/node-2`);

  expect(result).toMatchObject({ outcome: 'salvaged', source: 'node-1', podRestarted: true });
  expect((await listImages(sb.node('node-2'))).some((r) => r.digest === img.digest)).toBe(true);
  await waitFor('the failed pod to be deleted for a restart', () => podGone('shop', podName));
  await runsOnNode2('web', img.digest);
  expect(
    await controller.metric('tote_detected_failures_total', { reason: 'ErrImagePull' }),
  ).toBeGreaterThanOrEqual(1);
}, 300_000);

test('given a tag-only image that Node.status.images pairs with a digest, the tag is resolved and salvaged', async () => {
  const img = await buildImage(sb.run, { layers: 2, layerSize: 256 << 10, app: {} });
  const ref = 'registry.invalid/tote/catalog:2.0';
  await importToNode(sb.node('node-1'), img, ref);
  await sb.syncNodeImages('node-1');
  await failingDeployment('catalog', ref);

  const result = await salvageResult(`salvage/${img.digest}/node-2`);

  expect(result.outcome).toBe('salvaged');
  const onTarget = await listImages(sb.node('node-2'));
  expect(onTarget.find((r) => r.name === ref)?.digest).toBe(img.digest);
  await runsOnNode2('catalog', img.digest);
}, 300_000);

test('given a tag only an agent knows (kubelet lists only the largest images), resolveImage asks the agents and the salvage follows', async () => {
  // The smallest image on node-1 (the two before are larger): past nodeStatusMaxImages, kubelet leaves it out.
  const img = await buildImage(sb.run, { layers: 1, layerSize: 16 << 10, app: {} });
  const ref = 'registry.invalid/tote/billing:3.1';
  await importToNode(sb.node('node-1'), img, ref);
  const reported = await sb.syncNodeImages('node-1');
  expect(reported).toHaveLength(MAX_IMAGES);
  expect(reported.flatMap((i) => i.names)).not.toContain(ref);
  await failingDeployment('billing', ref);

  const resolved = await client.workflow.getHandle(`resolve/${ref}`);
  await waitFor(
    'resolveImage to start',
    async () => (await resolved.describe().catch(() => false)) !== false,
    60_000,
  );
  expect(await resolved.result()).toMatchObject({ digest: img.digest, via: 'agents', nodes: ['node-1'] });
  const result = await salvageResult(`salvage/${img.digest}/node-2`);
  expect(result.outcome).toBe('salvaged');
  await runsOnNode2('billing', img.digest);
}, 300_000);

test('given a salvage that failed, a restarted controller does not start it again during the cool-down (ADR 0007)', async () => {
  // A digest no node holds and kubelet reports nowhere: the salvage fails at once with NoSourceNode.
  const digest = `sha256:${Buffer.from(`gone-${Date.now()}`).toString('hex').padEnd(64, '0').slice(0, 64)}`;
  await failingDeployment('gone', `registry.invalid/tote/gone@${digest}`);
  const workflowId = `salvage/${digest}/node-2`;
  await expect(salvageResult(workflowId)).rejects.toThrow();
  const deferred = { workflow: 'salvageImage', result: 'deferred' };

  // A crash and restart: the new process has no memory of the detection and sees the pod still failing.
  await controller.kill();
  await controller.start();
  await waitFor(
    'the restarted controller to hold the start back',
    async () => (await controller.metric('tote_controller_workflow_starts_total', deferred)) >= 1,
    120_000,
  );

  let runs = 0;
  for await (const _ of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs++;
  expect(runs).toBe(1);
}, 300_000);
