// End to end on real components (Temporal dev server, a real cluster: etcd + kube-apiserver, controller-manager,
// scheduler and a kubelet per containerd node; mTLS agents and a `tote worker` from the compiled CLI), driven the
// way an operator drives them: `tote salvage --dry-run`, then `tote salvage`, `tote status`, `tote approve` and
// `tote reject`, each as its own process. The plan's byte count is checked against what crossed the wire, as the
// target agent's `tote_agent_bytes_received_total` counts it; every salvage ends with the Deployment's pod Running.
import { spawn, type ChildProcess } from 'node:child_process';
import { listImages } from '../harness/containerd.js';
import { buildImage, importToNode, type BuiltImage } from '../harness/images.js';
import { createNamespace } from '../harness/pods.js';
import { waitFor } from '../harness/ports.js';
import { startSandbox, type Sandbox } from '../harness/sandbox.js';
import { startToteStack, type ToteStack } from '../harness/stack.js';
import { TOTE_BIN } from '../harness/tote.js';
import { cleanToteEnv } from '../harness/worker.js';
import { applyDeployment, awaitKubeletFailure, awaitRunning } from '../harness/workloads.js';

const TIMEOUT = 600_000;
let sb: Sandbox;
let stack: ToteStack;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  sb = await startSandbox({ label: 'e2e-cli-salvage', nodes: 2, registry: false, kubelets: true });
  try {
    // No controller: every salvage here is one an operator asked for.
    stack = await startToteStack(sb, { controllers: 0 });
  } catch (err) {
    await sb.stop();
    throw err;
  }
}, TIMEOUT);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await sb?.stop();
}, TIMEOUT);

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

/** Starts `tote …` against the sandbox (admin kubeconfig, its Temporal), TOTE_* from the developer cleared. */
function toteProcess(args: string[]): { child: ChildProcess; done: Promise<Ran> } {
  const full = [
    TOTE_BIN,
    ...args,
    `--temporal-address=${sb.temporal.address}`,
    ...(['salvage'].includes(args[0] ?? '') ? [`--kubeconfig=${sb.kube.adminKubeconfigPath}`] : []),
  ];
  const child = spawn(process.execPath, full, {
    env: { ...process.env, ...cleanToteEnv(), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const done = new Promise<Ran>((resolve) =>
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, out, err });
    }),
  );
  return { child, done };
}

/** Asserts exit code 0, showing the whole output when it is not. */
function succeeded(r: Ran): Ran {
  if (r.code !== 0) throw new Error(`tote exited ${r.code}\n--- stdout\n${r.out}\n--- stderr\n${r.err}`);
  return r;
}

function tote(...args: string[]): Promise<Ran> {
  return toteProcess(args).done;
}

/** Parses stdout of a `--json` command, with the whole output in the failure message when it is not JSON. */
function json<T>(r: Ran): T {
  try {
    return JSON.parse(r.out) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.out}\n${r.err}`);
  }
}

/**
 * A Deployment on node-2 whose pod kubelet cannot pull `ref`; returns that pod's name. Without tote.dev/allow in
 * `nsAnnotations` the namespace allows tote; tote.dev/auto-salvage is nowhere (`tote salvage` is the opt-in).
 */
async function failingPod(
  ns: string,
  ref: string,
  nsAnnotations: Record<string, string> = { 'tote.dev/allow': 'true' },
): Promise<string> {
  const admin = sb.kube.kubeConfig();
  await createNamespace(admin, ns, nsAnnotations);
  await applyDeployment(admin, { namespace: ns, name: 'web', node: 'node-2', image: ref });
  const failure = await awaitKubeletFailure(admin, ns, 'web', ['ErrImagePull', 'ImagePullBackOff']);
  return failure.pod.metadata?.name ?? '';
}

/** The proof of a salvage: the Deployment's new pod runs on node-2 from `img`. */
async function runsOnNode2(ns: string, img: BuiltImage): Promise<void> {
  await awaitRunning(sb.kube.kubeConfig(), ns, 'web', { node: 'node-2', digest: img.digest });
}

/** Builds an image, imports it into `nodes` under `ref` and lets kubelet report it. */
async function imageOn(
  nodes: string[],
  ref: string,
  spec: Parameters<typeof buildImage>[1],
): Promise<BuiltImage> {
  const img = await buildImage(sb.run, { app: {}, ...spec });
  for (const n of nodes) {
    await importToNode(sb.node(n), img, ref);
    await sb.syncNodeImages(n);
  }
  return img;
}

/** Sum of a Prometheus metric's series (0 when absent). */
async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

const received = (): Promise<number> =>
  metricValue(stack.agent('node-2').metricsUrl, 'tote_agent_bytes_received_total');

interface PlanJson {
  plans: Array<{
    digest: string;
    digestVia: string;
    wouldProceed: boolean;
    sources: Array<{ node: string; complete: boolean }>;
    transfer: {
      source: string;
      bytesToMove: number;
      blobsToMove: number;
      bytesPresent: number;
      dedup: string;
    };
  }>;
}

interface SalvageJson {
  salvages: Array<{
    ok: boolean;
    outcome: string;
    source: string;
    bytes: number;
    workflowId: string;
    podRestarted: boolean;
  }>;
}

/** Bytes of the blobs ImportFrom streams: configs and layers (the root manifest comes with the session). */
function leafBytes(img: BuiltImage): number {
  const p = img.platforms[0]!;
  return p.config.size + p.layers.reduce((n, l) => n + l.size, 0);
}

test(
  'given an image only on node-1, the dry-run plan should count exactly the bytes the salvage then moves',
  async () => {
    const ref = 'registry.gone.test/shop/web:1.0';
    const img = await imageOn(['node-1'], ref, { layers: 3, layerSize: 512 * 1024, name: 'shop' });
    const pod = await failingPod('shop', ref);

    const dry = await tote('salvage', `shop/${pod}`, '--dry-run', '--json');
    succeeded(dry);
    const plan = json<PlanJson>(dry).plans[0]!;
    expect(plan).toMatchObject({
      digest: img.digest,
      wouldProceed: true,
      sources: [{ node: 'node-1', complete: true }],
    });
    expect(plan.transfer).toMatchObject({ source: 'node-1', bytesPresent: 0, bytesToMove: leafBytes(img) });
    // A plan moves nothing.
    expect((await listImages(sb.node('node-2'))).filter((r) => r.digest === img.digest)).toEqual([]);

    const before = await received();
    const run = await tote('salvage', `shop/${pod}`, '--json', '--temporal-ui-url=http://ui.example');
    succeeded(run);
    const s = json<SalvageJson>(run).salvages[0]!;
    expect(s).toMatchObject({
      ok: true,
      outcome: 'salvaged',
      source: 'node-1',
      bytes: img.totalSize,
      podRestarted: true,
    });
    expect((await received()) - before).toBe(plan.transfer.bytesToMove);
    expect((await listImages(sb.node('node-2'))).find((r) => r.name === ref)?.digest).toBe(img.digest);
    await runsOnNode2('shop', img);

    // The table lists it (visibility is eventually consistent: wait for the closed run to show).
    const row = await waitFor('the salvage in tote status', async () => {
      const st = await tote('status', '--json', `--pod=shop/${pod}`);
      const rows = json<Array<{ workflowId: string; status: string; phase: string; node: string }>>(st);
      return rows.find((r) => r.workflowId === s.workflowId && r.status === 'COMPLETED') ?? false;
    });
    expect(row).toMatchObject({ phase: 'Completed', node: 'node-2' });
    const table = await tote('status');
    expect(table.code).toBe(0);
    expect(table.out).toMatch(
      new RegExp(`${s.workflowId.replace(/[/.]/g, '\\$&')}\\s+Completed\\s+shop/${pod}\\s+node-2`),
    );
  },
  TIMEOUT,
);

test(
  'given node-2 already holds the base layers, the plan should count at least the bytes that move (exact when the agent lists blobs)',
  async () => {
    const base = await imageOn(['node-1', 'node-2'], 'registry.gone.test/base/os:1', {
      layers: 2,
      layerSize: 1 << 20,
      name: 'base',
    });
    const ref = 'registry.gone.test/dedup/app:2.0';
    const img = await imageOn(['node-1'], ref, {
      layers: 3,
      layerSize: 256 * 1024,
      name: 'dedup-app',
      shareBaseLayersWith: base,
      sharedLayers: 2,
    });
    const pod = await failingPod('dedup', ref);
    // The two layers shared with the base are on node-2 already (the base's own app layer is not part of img).
    const shared = base.platforms[0]!.layers.slice(0, 2);
    const newBytes = leafBytes(img) - shared.reduce((n, l) => n + l.size, 0);

    const plan = json<PlanJson>(await tote('salvage', `dedup/${pod}`, '--dry-run', '--json')).plans[0]!;
    const before = await received();
    const run = await tote('salvage', `dedup/${pod}`, '--json');
    expect(json<SalvageJson>(run).salvages[0]).toMatchObject({ ok: true, outcome: 'salvaged' });
    const wire = (await received()) - before;

    expect(wire).toBe(newBytes); // only the new layers and the config crossed
    await runsOnNode2('dedup', img);
    if (plan.transfer.dedup === 'exact') expect(plan.transfer.bytesToMove).toBe(wire);
    else expect(plan.transfer.bytesToMove).toBe(leafBytes(img)); // the documented upper bound: no dedup assumed
  },
  TIMEOUT,
);

test(
  'given an approve-mode namespace, tote salvage should wait for tote approve; reject and stale ids fail clearly',
  async () => {
    const ref = 'registry.gone.test/gated/app:1';
    const img = await imageOn(['node-1'], ref, { layers: 1, layerSize: 128 * 1024, name: 'gated' });
    const pod = await failingPod('gated', ref, { 'tote.dev/allow': 'true', 'tote.dev/mode': 'approve' });

    const follower = toteProcess(['salvage', `gated/${pod}`, '--poll-interval=200ms']);
    const waiting = await waitFor('the salvage waiting for approval', async () => {
      const rows = json<Array<{ workflowId: string; phase: string }>>(
        await tote('status', '--json', '--running', `--pod=gated/${pod}`),
      );
      return rows.find((r) => r.phase === 'AwaitingApproval') ?? false;
    });
    const approved = await tote('approve', waiting.workflowId, '--by=e2e', '--note=test');
    expect(approved.code).toBe(0);
    expect(approved.out).toContain(`Approved ${waiting.workflowId} (by e2e)`);

    const followed = await follower.done;
    succeeded(followed);
    expect(followed.out).toContain('tote approve'); // it told the operator what to do while waiting
    expect(followed.out).toContain('✓ Salvaged');
    await runsOnNode2('gated', img);

    const again = await tote('approve', waiting.workflowId);
    expect(again.code).toBe(1);
    expect(again.err).toBe(
      `tote: salvage ${waiting.workflowId} is completed: there is nothing to approve (see "tote status")\n`,
    );
    const missing = await tote('reject', `salvage/sha256:${'0'.repeat(64)}/node-9`);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(
      /^tote: no workflow "salvage\/sha256:0+\/node-9" in Temporal namespace default; list salvages with "tote status"\n$/,
    );
  },
  TIMEOUT,
);

test(
  'given an approve-mode salvage started with --no-wait, tote reject should end it without moving anything',
  async () => {
    const ref = 'registry.gone.test/gated2/app:1';
    await imageOn(['node-1'], ref, { layers: 1, layerSize: 64 * 1024, name: 'gated2' });
    const pod = await failingPod('gated2', ref, { 'tote.dev/allow': 'true', 'tote.dev/mode': 'approve' });
    const started = succeeded(await tote('salvage', `gated2/${pod}`, '--no-wait', '--json'));
    const [id] = json<{ started: string[] }>(started).started;
    await waitFor('phase AwaitingApproval', async () => {
      const rows = json<Array<{ workflowId: string; phase: string }>>(
        await tote('status', '--json', `--pod=gated2/${pod}`),
      );
      return rows.some((r) => r.workflowId === id && r.phase === 'AwaitingApproval');
    });
    const rejected = await tote('reject', id!, '--note=registry is back', '--json');
    expect(rejected.code).toBe(0);
    expect(json<{ decision: string }>(rejected).decision).toBe('reject');
    await waitFor('the rejected salvage closed', async () => {
      const rows = json<Array<{ workflowId: string; phase: string; status: string }>>(
        await tote('status', '--json', `--pod=gated2/${pod}`),
      );
      return rows.some((r) => r.workflowId === id && r.status === 'COMPLETED' && r.phase === 'Rejected');
    });
    expect((await listImages(sb.node('node-2'))).some((r) => r.name === ref)).toBe(false);
  },
  TIMEOUT,
);

test('given a namespace without consent or a missing pod, tote salvage should refuse with what to do', async () => {
  const noConsent = await tote('salvage', 'private/web-1');
  expect(noConsent.code).toBe(1);
  // The pod does not even exist; reading it first is fine, but a missing pod must be said plainly.
  expect(noConsent.err).toBe(
    'tote: pod private/web-1 not found; list the pods with: kubectl get pods -n private\n',
  );
  const ref = 'registry.gone.test/private/app:1';
  await imageOn(['node-1'], ref, { layers: 1, layerSize: 4096, name: 'private' });
  const pod = await failingPod('private', ref, {});
  const refused = await tote('salvage', `private/${pod}`, '--dry-run');
  expect(refused.code).toBe(1);
  expect(refused.err).toBe(
    'tote: namespace private does not allow tote (tote.dev/allow is missing); if its owners agree: kubectl annotate namespace private tote.dev/allow=true\n',
  );
  const denied = await tote('salvage', 'kube-system/coredns-1');
  expect(denied.code).toBe(1);
  expect(denied.err).toContain('tote never acts in kube-system');
});
