/**
 * `tote controller` as a real process, under the chart's controller ServiceAccount (RBAC), against a real
 * kube-apiserver and Temporal dev server. No worker runs here, so started workflows stay Running and visibility
 * shows exactly what the controller started. Every test uses its own digests, so queries never overlap.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { installChartIdentities } from '../harness/chart-rbac.js';
import { startToteController, type ControllerProcess } from '../harness/controller.js';
import { startKube, type Kube } from '../harness/kube.js';
import { MERGE_PATCH } from '../harness/kube-nodes.js';
import {
  createDeployment,
  createNamespace,
  createPod,
  kubeletImage,
  registerNode,
  setPodImageFailure,
} from '../harness/pods.js';
import { waitFor } from '../harness/ports.js';
import { Run } from '../harness/run.js';
import { startTemporal, type Temporal } from '../harness/temporal.js';

const OPT_IN = { 'tote.dev/auto-salvage': 'true' };
const STARTS = 'tote_controller_workflow_starts_total';

let run: Run;
let kube: Kube;
let temporal: Temporal;
let kc: KubeConfig;
let controllerKubeconfig: string;
let connection: Connection;
let client: Client;
let main: ControllerProcess;

const digest = (): string => `sha256:${randomBytes(32).toString('hex')}`;
const image = (d: string, repo = 'app'): string => `registry.invalid/tote/${repo}@${d}`;

beforeAll(async () => {
  run = Run.create('e2e-controller');
  try {
    [kube, temporal] = await Promise.all([startKube(run), startTemporal(run)]);
    kc = kube.kubeConfig();
    ({ controllerKubeconfig } = await installChartIdentities(kube));
    await registerNode(kc, { name: 'node-a', images: [] });
    await registerNode(kc, { name: 'node-b', images: [] });
    await createNamespace(kc, 'shop', { 'tote.dev/allow': 'true' });
    await createNamespace(kc, 'closed');
    connection = await Connection.connect({ address: temporal.address });
    client = new Client({ connection, namespace: temporal.namespace });
    main = await startController('controller');
    console.log(`controller e2e run: ${run.dir}`);
  } catch (err) {
    console.error(run.tailLogs());
    throw err;
  }
}, 300_000);

afterAll(async () => {
  await connection?.close();
  await run?.stop();
});

function startController(name: string, args: string[] = []): Promise<ControllerProcess> {
  return startToteController(run, {
    kubeconfig: controllerKubeconfig,
    temporalAddress: temporal.address,
    name,
    args,
  });
}

/** Workflow ids (one entry per execution) matching a visibility query. */
async function executions(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}

/** Waits until the query lists `n` executions (visibility is eventually consistent), then returns them. */
function waitForExecutions(query: string, n: number): Promise<string[]> {
  return waitFor(
    `${n} execution(s) for ${query}`,
    async () => {
      const ids = await executions(query);
      return ids.length === n ? ids : false;
    },
    60_000,
  );
}

/** Waits until `proc`'s metric reaches at least `min`. */
function waitForMetric(
  proc: ControllerProcess,
  name: string,
  labels: Record<string, string>,
  min: number,
): Promise<number> {
  return waitFor(
    `${name}${JSON.stringify(labels)} >= ${min}`,
    async () => {
      const v = await proc.metric(name, labels);
      return v >= min ? v : false;
    },
    60_000,
  );
}

async function failingPod(opts: {
  ns: string;
  name: string;
  image: string;
  node?: string;
  annotations?: Record<string, string>;
}): Promise<void> {
  await createPod(kc, {
    namespace: opts.ns,
    name: opts.name,
    nodeName: opts.node ?? 'node-a',
    image: opts.image,
    annotations: opts.annotations,
  });
  await setPodImageFailure(kc, {
    namespace: opts.ns,
    name: opts.name,
    container: 'app',
    reason: 'ErrImagePull',
  });
}

test('given a Deployment opted in on the Deployment, its failing pod leads to one running salvage with the right id and search attributes', async () => {
  const d = digest();
  const { pod } = await createDeployment(kc, {
    namespace: 'shop',
    name: 'web',
    nodeName: 'node-a',
    image: image(d),
    annotations: OPT_IN,
  });
  const podName = pod.metadata?.name ?? '';
  await setPodImageFailure(kc, {
    namespace: 'shop',
    name: podName,
    container: 'app',
    reason: 'ErrImagePull',
  });
  const query = [
    `ImageDigest="${d}"`,
    'TargetNode="node-a"',
    'PodNamespace="shop"',
    `PodName="${podName}"`,
    'SalvagePhase="Detecting"',
    'WorkflowType="salvageImage"',
    'ExecutionStatus="Running"',
  ].join(' AND ');
  expect(await waitForExecutions(query, 1)).toEqual([`salvage/${d}/node-a`]);
  // kubelet keeps flipping ErrImagePull ↔ ImagePullBackOff: still one detection, one workflow.
  await setPodImageFailure(kc, {
    namespace: 'shop',
    name: podName,
    container: 'app',
    reason: 'ImagePullBackOff',
  });
  await setPodImageFailure(kc, {
    namespace: 'shop',
    name: podName,
    container: 'app',
    reason: 'ErrImagePull',
  });
  expect(await executions(`WorkflowId="salvage/${d}/node-a"`)).toHaveLength(1);
  expect(await main.metric('tote_detected_failures_total')).toBeGreaterThanOrEqual(1);
});

test('given no namespace opt-in, no pod opt-in, or kube-system, nothing starts', async () => {
  const d = digest();
  const before = await main.metric('tote_controller_ignored_detections_total');
  await failingPod({ ns: 'closed', name: 'no-ns-opt-in', image: image(d), annotations: OPT_IN });
  await failingPod({ ns: 'shop', name: 'no-pod-opt-in', image: image(d) });
  await failingPod({ ns: 'kube-system', name: 'system', image: image(d), annotations: OPT_IN });
  await waitForMetric(main, 'tote_controller_ignored_detections_total', {}, before + 3);
  expect(
    await main.metric('tote_controller_ignored_detections_total', { why: 'namespace-not-opted-in' }),
  ).toBeGreaterThanOrEqual(1);
  expect(
    await main.metric('tote_controller_ignored_detections_total', { why: 'pod-not-opted-in' }),
  ).toBeGreaterThanOrEqual(1);
  expect(
    await main.metric('tote_controller_ignored_detections_total', { why: 'denied-namespace' }),
  ).toBeGreaterThanOrEqual(1);
  // A later opted-in pod of the same digest is salvaged: the controller was working all along.
  await failingPod({ ns: 'shop', name: 'canary', image: image(d), node: 'node-b', annotations: OPT_IN });
  await waitForExecutions(`ImageDigest="${d}"`, 1);
  expect(await executions(`ImageDigest="${d}"`)).toEqual([`salvage/${d}/node-b`]);
});

test('given a bad tote.dev annotation, a Warning event names the key and nothing starts', async () => {
  const d = digest();
  await failingPod({
    ns: 'shop',
    name: 'typo',
    image: image(d),
    annotations: { 'tote.dev/auto-salvage': 'yes' },
  });
  const events = kc.makeApiClient(EventsV1Api);
  const ev = await waitFor('an InvalidAnnotation event on shop/typo', async () => {
    const list = await events.listNamespacedEvent({ namespace: 'shop' });
    return list.items.find((e) => e.regarding?.name === 'typo' && e.reason === 'InvalidAnnotation') ?? false;
  });
  expect(ev.type).toBe('Warning');
  expect(ev.note).toContain('tote.dev/auto-salvage');
  expect(ev.reportingController).toBe('tote.dev/controller');
  expect(await executions(`ImageDigest="${d}"`)).toEqual([]);
});

test("given tag-only images, the digest comes from another pod's imageID or from Node.status.images", async () => {
  const [fromPod, fromNode] = [digest(), digest()];
  const podRepo = 'registry.invalid/tote/tagged-pod';
  const nodeRepo = 'registry.invalid/tote/tagged-node';
  // A pod on node-b runs podRepo:v1 and reports its repo digest, as kubelet does for running containers.
  await createPod(kc, { namespace: 'closed', name: 'runner', nodeName: 'node-b', image: `${podRepo}:v1` });
  await kc.makeApiClient(CoreV1Api).patchNamespacedPodStatus(
    {
      namespace: 'closed',
      name: 'runner',
      body: {
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'app',
              image: `${podRepo}:v1`,
              imageID: `${podRepo}@${fromPod}`,
              ready: true,
              restartCount: 0,
              state: { running: {} },
            },
          ],
        },
      },
    },
    MERGE_PATCH,
  );
  await registerNode(kc, {
    name: 'node-c',
    images: [kubeletImage({ repo: nodeRepo, digest: fromNode, tags: ['v2'], sizeBytes: 1000 })],
  });
  await failingPod({ ns: 'shop', name: 'tag-pod', image: `${podRepo}:v1`, annotations: OPT_IN });
  await failingPod({ ns: 'shop', name: 'tag-node', image: `${nodeRepo}:v2`, annotations: OPT_IN });
  expect(await waitForExecutions(`ImageDigest="${fromPod}"`, 1)).toEqual([`salvage/${fromPod}/node-a`]);
  expect(await waitForExecutions(`ImageDigest="${fromNode}"`, 1)).toEqual([`salvage/${fromNode}/node-a`]);
});

test('given two controller replicas, each (digest, node) gets exactly one workflow', async () => {
  const second = await startController('controller-2');
  try {
    const d = digest();
    const before = [
      await main.metric(STARTS, { result: 'ok' }),
      await second.metric(STARTS, { result: 'ok' }),
    ];
    await createDeployment(kc, {
      namespace: 'shop',
      name: 'api-1',
      nodeName: 'node-a',
      image: image(d),
      podAnnotations: OPT_IN,
    });
    await createDeployment(kc, {
      namespace: 'shop',
      name: 'api-2',
      nodeName: 'node-a',
      image: image(d),
      podAnnotations: OPT_IN,
    });
    await createDeployment(kc, {
      namespace: 'shop',
      name: 'api-3',
      nodeName: 'node-b',
      image: image(d),
      podAnnotations: OPT_IN,
    });
    const pods = await kc
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: 'shop', labelSelector: 'app in (api-1,api-2,api-3)' });
    for (const p of pods.items)
      await setPodImageFailure(kc, {
        namespace: 'shop',
        name: p.metadata?.name ?? '',
        container: 'app',
        reason: 'ImagePullBackOff',
      });
    // Both replicas act on all three pods (start or join), so their counters say the race really happened.
    await waitForMetric(main, STARTS, { result: 'ok' }, (before[0] ?? 0) + 3);
    await waitForMetric(second, STARTS, { result: 'ok' }, (before[1] ?? 0) + 3);
    const ids = await waitForExecutions(`ImageDigest="${d}"`, 2);
    expect(ids.sort()).toEqual([`salvage/${d}/node-a`, `salvage/${d}/node-b`]);
  } finally {
    await second.stop();
  }
});

/** How often the controller logged that it started or joined `workflowId` (its log survives restarts). */
function startsLogged(proc: ControllerProcess, workflowId: string): number {
  return readFileSync(proc.managed.logPath, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"workflow started or joined"') && l.includes(`"workflowId":"${workflowId}"`))
    .length;
}

test('given a controller killed in the middle, the restart neither loses a detection nor duplicates a workflow', async () => {
  const [first, whileDown] = [digest(), digest()];
  const firstId = `salvage/${first}/node-a`;
  await failingPod({ ns: 'shop', name: 'before-crash', image: image(first), annotations: OPT_IN });
  await waitForExecutions(`ImageDigest="${first}"`, 1);
  await waitFor('the start of the first salvage in the log', async () => startsLogged(main, firstId) >= 1);
  const loggedBefore = startsLogged(main, firstId);
  await main.kill();
  await failingPod({ ns: 'shop', name: 'while-down', image: image(whileDown), annotations: OPT_IN });
  await setPodImageFailure(kc, {
    namespace: 'shop',
    name: 'before-crash',
    container: 'app',
    reason: 'ImagePullBackOff',
  });
  await main.start();
  expect(await waitForExecutions(`ImageDigest="${whileDown}"`, 1)).toEqual([`salvage/${whileDown}/node-a`]);
  // The restarted process re-lists, starts the first salvage again, and joins the running one.
  await waitFor(
    'the restarted controller to join the first salvage',
    async () => startsLogged(main, firstId) > loggedBefore,
  );
  expect(await executions(`WorkflowId="${firstId}"`)).toHaveLength(1);
});

test('given --enabled=false, an opted-in failing pod starts nothing', async () => {
  await main.stop();
  const off = await startController('controller-disabled', ['--enabled=false']);
  try {
    const d = digest();
    await failingPod({ ns: 'shop', name: 'kill-switch', image: image(d), annotations: OPT_IN });
    await waitForMetric(off, 'tote_controller_ignored_detections_total', { why: 'disabled' }, 1);
    expect(await off.metric(STARTS)).toBe(0);
    expect(await executions(`ImageDigest="${d}"`)).toEqual([]);
  } finally {
    await off.stop();
    await main.start();
  }
});
