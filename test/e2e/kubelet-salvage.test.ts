// Salvages proven by running containers, on a real small cluster: kube-controller-manager, kube-scheduler and a
// kubelet per containerd node; tote's controller, worker and mTLS agents as processes. Every failure here is what
// a kubelet wrote (its own ErrImagePull / ImagePullBackOff / CreateContainerError and messages) and every salvage
// ends with a container started from the salvaged image on the target node, read back through `kubectl logs`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { ctr, listContent } from '../harness/containerd.js';
import { importToNode, serveScript } from '../harness/images.js';
import { MERGE_PATCH } from '../harness/kube-nodes.js';
import { podEvents, salvageRecords } from '../harness/kube-views.js';
import { createNamespace } from '../harness/pods.js';
import { waitFor } from '../harness/ports.js';
import type { Sandbox } from '../harness/sandbox.js';
import { seedLostImage, type LostImage } from '../harness/scenarios.js';
import { startClusterWithTote } from '../harness/stack.js';
import { TOTE_BIN } from '../harness/tote.js';
import {
  applyCronJob,
  applyDeployment,
  applyJob,
  applyPod,
  applyStatefulSet,
  awaitKubeletFailure,
  awaitRunning,
  podLog,
  podsOf,
  type WorkloadSpec,
} from '../harness/workloads.js';

const execFileP = promisify(execFile);
const TIMEOUT = 300_000;
const OPT_IN = { 'tote.dev/auto-salvage': 'true' };
let sb: Sandbox;
let admin: KubeConfig;

beforeAll(async () => {
  // The remedy is allowed on the worker and its RBAC, so a namespace that opts in can use it (k-remedy).
  ({ sb } = await startClusterWithTote(
    { label: 'e2e-kubelet', nodes: 2 },
    { workerArgs: ['--pull-policy-remedy'], chartValues: ['pullPolicyRemedy.enabled=true'] },
  ));
  admin = sb.kube.kubeConfig();
}, TIMEOUT);

afterAll(async () => {
  await sb?.stop();
}, TIMEOUT);

/** A fresh opted-in namespace and an image in it that only node-1 caches and the registry lost. */
async function outage(ns: string, script?: string): Promise<LostImage> {
  await createNamespace(admin, ns, { 'tote.dev/allow': 'true' });
  return seedLostImage(sb, { repo: `${ns}/app`, spec: script ? { app: { script } } : {} });
}

/** Checks the salvage left its record and that the running pod's log is the image's own output. */
async function provenBy(ns: string, app: string, lost: LostImage, logLine: RegExp): Promise<void> {
  const running = await awaitRunning(admin, ns, app, { node: 'node-2', digest: lost.image.digest });
  expect(running.pod.status?.containerStatuses?.[0]?.imageID).toContain(lost.image.digest);
  expect(await podLog(admin, running.pod)).toMatch(logLine);
  const records = await salvageRecords(admin, ns);
  expect(records.map((r) => [r.spec.digest, r.spec.sourceNode, r.spec.targetNode])).toContainEqual([
    lost.image.digest,
    'node-1',
    'node-2',
  ]);
}

/** How many runs Temporal has of workflow `id` (every run, closed or open). */
async function workflowRuns(id: string): Promise<number> {
  const connection = await Connection.connect({ address: sb.temporal.address });
  try {
    const client = new Client({ connection, namespace: sb.temporal.namespace });
    let n = 0;
    for await (const _ of client.workflow.list({ query: `WorkflowId = "${id}"` })) n++;
    return n;
  } finally {
    await connection.close();
  }
}

function workload(ns: string, lost: LostImage, extra: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return { namespace: ns, name: 'app', image: lost.ref, node: 'node-2', podAnnotations: OPT_IN, ...extra };
}

describe('given a registry that lost an image only node-1 still caches, on real kubelets', () => {
  it(
    'a Deployment whose pod cannot pull it should run again on node-2 from the salvaged image',
    async () => {
      const lost = await outage('k-deploy');
      await applyDeployment(admin, workload('k-deploy', lost));
      const failure = await awaitKubeletFailure(admin, 'k-deploy', 'app', [
        'ErrImagePull',
        'ImagePullBackOff',
      ]);
      expect(failure.message).toContain(lost.ref);
      await provenBy('k-deploy', 'app', lost, /tote fixture \w+: up/);
    },
    TIMEOUT,
  );

  it(
    'a StatefulSet pod should run again (its controller recreates the same pod name)',
    async () => {
      const lost = await outage('k-sts');
      await applyStatefulSet(admin, workload('k-sts', lost));
      await awaitKubeletFailure(admin, 'k-sts', 'app', ['ErrImagePull', 'ImagePullBackOff']);
      await provenBy('k-sts', 'app', lost, /tote fixture \w+: up/);
      expect((await podsOf(admin, 'k-sts', 'app')).map((p) => p.metadata?.name)).toEqual(['app-0']);
    },
    TIMEOUT,
  );

  it(
    'a bare pod (no owner, so tote does not delete it) should run once kubelet retries after its back-off',
    async () => {
      const lost = await outage('k-bare');
      await applyPod(admin, workload('k-bare', lost));
      const failure = await awaitKubeletFailure(admin, 'k-bare', 'app', ['ErrImagePull', 'ImagePullBackOff']);
      const running = await awaitRunning(admin, 'k-bare', 'app', {
        node: 'node-2',
        digest: lost.image.digest,
      });
      // The same pod: kubelet found the image on its next attempt.
      expect(running.pod.metadata?.uid).toBe(failure.pod.metadata?.uid);
      process.stdout.write(
        `bare pod: failure → Running in ${((running.readyAt - failure.seenAt) / 1000).toFixed(1)} s\n`,
      );
      expect(await podLog(admin, running.pod)).toMatch(/tote fixture \w+: up/);
    },
    TIMEOUT,
  );

  it(
    'a Job whose pod cannot pull should complete from the salvaged image',
    async () => {
      const lost = await outage('k-job', "echo 'job ran to the end'; exit 0");
      await applyJob(admin, { ...workload('k-job', lost), annotations: OPT_IN, podAnnotations: undefined });
      await awaitKubeletFailure(admin, 'k-job', 'app', ['ErrImagePull', 'ImagePullBackOff']);
      const batch = admin.makeApiClient(BatchV1Api);
      await waitFor(
        'the Job to succeed',
        async () =>
          ((await batch.readNamespacedJob({ name: 'app', namespace: 'k-job' })).status?.succeeded ?? 0) > 0,
        { timeoutMs: 180_000, intervalMs: 500 },
      );
      const done = (await podsOf(admin, 'k-job', 'app')).find((p) => p.status?.phase === 'Succeeded');
      expect(done?.spec?.nodeName).toBe('node-2');
      expect(done?.status?.containerStatuses?.[0]?.imageID).toContain(lost.image.digest);
      expect(done ? await podLog(admin, done) : '').toContain('job ran to the end');
    },
    TIMEOUT,
  );

  it(
    "a CronJob's run whose pod cannot pull should complete after the salvage, and its next run without one",
    async () => {
      const lost = await outage('k-cron', "echo 'cron run done'; exit 0");
      await applyCronJob(admin, {
        ...workload('k-cron', lost),
        schedule: '* * * * *',
        annotations: OPT_IN,
        podAnnotations: undefined,
      });
      // The first run (within a minute) fails to pull on node-2; tote salvages it (opt-in on the CronJob).
      await awaitKubeletFailure(admin, 'k-cron', 'app', ['ErrImagePull', 'ImagePullBackOff'], 150_000);
      const batch = admin.makeApiClient(BatchV1Api);
      const succeeded = async (): Promise<string[]> =>
        (await batch.listNamespacedJob({ namespace: 'k-cron' })).items
          .filter((j) => (j.status?.succeeded ?? 0) > 0)
          .map((j) => j.metadata?.name ?? '');
      await waitFor('the first run to succeed', async () => (await succeeded()).length >= 1, {
        timeoutMs: 180_000,
        intervalMs: 1000,
      });
      // The next scheduled run finds the image on node-2 and needs no salvage.
      await waitFor('the next run to succeed', async () => (await succeeded()).length >= 2, {
        timeoutMs: 150_000,
        intervalMs: 1000,
      });
      const done = (await podsOf(admin, 'k-cron', 'app')).filter((p) => p.status?.phase === 'Succeeded');
      expect(done.length).toBeGreaterThanOrEqual(2);
      for (const p of done) {
        expect(p.spec?.nodeName).toBe('node-2');
        expect(p.status?.containerStatuses?.[0]?.imageID).toContain(lost.image.digest);
      }
      expect(done[0] ? await podLog(admin, done[0]) : '').toContain('cron run done');
      // One salvage for both runs.
      expect(await workflowRuns(`salvage/${lost.image.digest}/node-2`)).toBe(1);
      await batch.deleteNamespacedCronJob({ name: 'app', namespace: 'k-cron' });
    },
    TIMEOUT,
  );

  it(
    'a pod whose init container cannot pull should initialize and run',
    async () => {
      const lost = await outage('k-init', "echo 'init done'; exit 0");
      const main = await seedLostImage(sb, { repo: 'k-init/main', holders: ['node-1', 'node-2'] });
      await applyDeployment(admin, {
        ...workload('k-init', main),
        initContainer: { name: 'setup', image: lost.ref },
      });
      const failure = await awaitKubeletFailure(admin, 'k-init', 'app', ['ErrImagePull', 'ImagePullBackOff']);
      expect(failure.container).toBe('setup');
      const running = await awaitRunning(admin, 'k-init', 'app', { node: 'node-2' });
      expect(running.pod.status?.initContainerStatuses?.[0]?.imageID).toContain(lost.image.digest);
      expect(await podLog(admin, running.pod, 'setup')).toContain('init done');
    },
    TIMEOUT,
  );

  it(
    'a real CreateContainerError (a layer blob gone from the node) should be cleaned up, salvaged and run',
    async () => {
      const lost = await outage('k-corrupt');
      // node-2 once pulled it, but lost a layer from its content store: the record stays, unpacking fails.
      await importToNode(sb.node('node-2'), lost.image, lost.ref);
      const layer = lost.image.layerDigests[0] ?? '';
      await ctr(sb.node('node-2'), ['content', 'rm', layer]);
      expect(await listContent(sb.node('node-2'))).not.toContain(layer);
      await applyDeployment(admin, workload('k-corrupt', lost));
      const failure = await awaitKubeletFailure(admin, 'k-corrupt', 'app', ['CreateContainerError']);
      expect(failure.message).toMatch(/not found/);
      await provenBy('k-corrupt', 'app', lost, /tote fixture \w+: up/);
    },
    TIMEOUT,
  );

  it(
    'a custom app script is what runs after the salvage (kubectl logs shows the app, not a fixture default)',
    async () => {
      const lost = await outage('k-logs', serveScript('hello from the salvaged app'));
      await applyDeployment(admin, workload('k-logs', lost));
      await awaitKubeletFailure(admin, 'k-logs', 'app', ['ErrImagePull', 'ImagePullBackOff']);
      await provenBy('k-logs', 'app', lost, /^hello from the salvaged app$/m);
    },
    TIMEOUT,
  );
});

describe('given a container that pulls with imagePullPolicy: Always, on real kubelets', () => {
  it(
    'should salvage once, never delete the pod in a loop, and say why with the one-line fix',
    async () => {
      const lost = await outage('k-always');
      await applyDeployment(admin, { ...workload('k-always', lost), imagePullPolicy: 'Always' });
      const failure = await awaitKubeletFailure(admin, 'k-always', 'app', [
        'ErrImagePull',
        'ImagePullBackOff',
      ]);
      // Watch several kubelet retries (back-off 10 s, 20 s, 40 s): every pod the Deployment ever had, and the runs.
      const uids = new Set<string>();
      const deadline = Date.now() + 75_000;
      while (Date.now() < deadline) {
        for (const p of await podsOf(admin, 'k-always', 'app')) uids.add(p.metadata?.uid ?? '');
        await new Promise((r) => setTimeout(r, 1000));
      }
      const runs = await workflowRuns(`salvage/${lost.image.digest}/node-2`);
      process.stdout.write(`Always policy over 75 s: ${uids.size} pod(s), ${runs} salvage run(s)\n`);
      expect([...uids]).toEqual([failure.pod.metadata?.uid]);
      expect(runs).toBe(1);
      const events = await podEvents(admin, 'k-always', failure.pod.metadata?.name ?? '');
      const warning = events.find((e) => e.reason === 'ImagePullPolicyAlways');
      expect(warning?.type).toBe('Warning');
      expect(warning?.note).toContain('imagePullPolicy: Always');
      expect(warning?.note).toContain(
        `kubectl -n k-always patch deployment app -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","imagePullPolicy":"IfNotPresent"}]}}}}'`,
      );
      // The salvage itself happened: node-2 holds the image, ready for the fix.
      expect(events.map((e) => e.reason)).toContain('ImageSalvaged');
    },
    TIMEOUT,
  );

  it(
    'with tote.dev/pull-policy-remedy on the namespace, should switch the Deployment to IfNotPresent, run, record it, and revert with one command',
    async () => {
      const lost = await outage('k-remedy');
      await admin.makeApiClient(CoreV1Api).patchNamespace(
        {
          name: 'k-remedy',
          body: { metadata: { annotations: { 'tote.dev/pull-policy-remedy': 'true' } } },
        },
        MERGE_PATCH,
      );
      await applyDeployment(admin, { ...workload('k-remedy', lost), imagePullPolicy: 'Always' });
      const failure = await awaitKubeletFailure(admin, 'k-remedy', 'app', [
        'ErrImagePull',
        'ImagePullBackOff',
      ]);
      const running = await awaitRunning(admin, 'k-remedy', 'app', {
        node: 'node-2',
        digest: lost.image.digest,
      });
      expect(running.pod.spec?.containers[0]?.imagePullPolicy).toBe('IfNotPresent');
      const apps = admin.makeApiClient(AppsV1Api);
      const dep = await apps.readNamespacedDeployment({ name: 'app', namespace: 'k-remedy' });
      expect(dep.spec?.template.spec?.containers[0]?.imagePullPolicy).toBe('IfNotPresent');
      expect(JSON.parse(dep.metadata?.annotations?.['tote.dev/pull-policy-changed'] ?? '{}')).toMatchObject({
        container: 'app',
        list: 'containers',
        from: 'Always',
      });
      const record = (await salvageRecords(admin, 'k-remedy'))[0];
      expect(record?.status.pullPolicyChange).toEqual({
        workload: 'deployment/app',
        container: 'app',
        from: 'Always',
        to: 'IfNotPresent',
        revert: 'tote pull-policy revert -n k-remedy deployment/app',
      });
      const events = await podEvents(admin, 'k-remedy', failure.pod.metadata?.name ?? '');
      expect(events.find((e) => e.reason === 'ImagePullPolicyChanged')?.note).toContain(
        'revert: tote pull-policy revert -n k-remedy deployment/app',
      );
      // The one command that undoes it, as the operator runs it.
      const { stdout } = await execFileP(process.execPath, [
        TOTE_BIN,
        'pull-policy',
        'revert',
        '-n',
        'k-remedy',
        'deployment/app',
        '--kubeconfig',
        sb.kube.adminKubeconfigPath,
      ]);
      expect(stdout).toContain(
        'Reverted container app of deployment/app in k-remedy to imagePullPolicy: Always',
      );
      const back = await apps.readNamespacedDeployment({ name: 'app', namespace: 'k-remedy' });
      expect(back.spec?.template.spec?.containers[0]?.imagePullPolicy).toBe('Always');
      expect(back.metadata?.annotations?.['tote.dev/pull-policy-changed']).toBeUndefined();
    },
    TIMEOUT,
  );
});
