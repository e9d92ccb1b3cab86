// Last-copy protection end to end, on real components (Temporal dev server, a real cluster: etcd + kube-apiserver,
// controller-manager, scheduler and a kubelet per containerd node; mTLS agents, two docker-registry instances, a
// `tote worker` from the compiled CLI running as the chart's ServiceAccount): `tote scan` runs as its own process
// and finds an image that its registry lost and that lives on one node, warns on the pod running from it (kubelet
// runs it, and reports its imageID), and backs it up; an image still in its registry is reported present and left
// alone. The worker's opt-in Schedule (`--scan-interval`) runs the same workflow.
import { spawn, type ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import type { ScanReport, ScanRow } from '../../common/last-copy.js';
import { buildImage, importToNode, pushToRegistry, type BuiltImage } from '../harness/images.js';
import { isToteEvent, podEvents, type EventView } from '../harness/kube-views.js';
import { createNamespace } from '../harness/pods.js';
import { waitFor } from '../harness/ports.js';
import { MANIFEST_ACCEPT, registryGet, startRegistry, type Registry } from '../harness/registry.js';
import { startSandbox, type Sandbox } from '../harness/sandbox.js';
import { startToteStack } from '../harness/stack.js';
import { TOTE_BIN } from '../harness/tote.js';
import { cleanToteEnv } from '../harness/worker.js';
import { applyPod, awaitRunning } from '../harness/workloads.js';

const TIMEOUT = 600_000;
const NS = 'scan-e2e';
let sb: Sandbox;
let source: Registry;
let backup: Registry;
let gone: BuiltImage;
let kept: BuiltImage;
const children = new Set<ChildProcess>();

/** An image on one node only, in the source registry under `repo:1.0`, used by a running pod on that node. */
async function seed(node: string, repo: string, pod: string): Promise<BuiltImage> {
  const image = await buildImage(sb.run, {
    layers: 2,
    layerSize: 256 << 10,
    name: repo.replace('/', '-'),
    app: {},
  });
  const ref = `${source.host}/${repo}:1.0`;
  await importToNode(sb.node(node), image, ref);
  await pushToRegistry(image, source, `${repo}:1.0`);
  await sb.syncNodeImages(node);
  const kc = sb.kube.kubeConfig();
  await applyPod(kc, { namespace: NS, name: pod, node, image: ref });
  const running = await awaitRunning(kc, NS, pod, { node, digest: image.digest });
  expect(running.pod.status?.containerStatuses?.[0]?.imageID).toBe(`${source.host}/${repo}@${image.digest}`);
  return image;
}

beforeAll(async () => {
  sb = await startSandbox({ label: 'e2e-scan', nodes: 2, kubelets: true });
  try {
    if (!sb.registry) throw new Error('the sandbox has no registry');
    source = sb.registry;
    backup = await startRegistry(sb.run, { name: 'backup' });
    await startToteStack(sb, {
      controllers: 0,
      workerArgs: [
        `--backup-registry=${backup.host}/backup`,
        '--backup-registry-insecure',
        '--scan-interval=24h',
        '--scan-registry-insecure',
      ],
    });
    await createNamespace(sb.kube.kubeConfig(), NS, { 'tote.dev/allow': 'true' });
    [gone, kept] = await Promise.all([
      seed('node-1', 'scan/gone', 'uses-gone'),
      seed('node-2', 'scan/kept', 'uses-kept'),
    ]);
    // The outage: the source registry loses the manifest; node-1's containerd is the last copy.
    const del = await fetch(`${source.url}/v2/scan/gone/manifests/${gone.digest}`, { method: 'DELETE' });
    if (del.status !== 202) throw new Error(`registry refused the delete: HTTP ${del.status}`);
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

/** Runs `node bin/tote.js scan …` against the sandbox's Temporal, TOTE_* from the developer cleared. */
function tote(...args: string[]): Promise<Ran> {
  const full = [TOTE_BIN, 'scan', ...args, `--temporal-address=${sb.temporal.address}`];
  const child = spawn(process.execPath, full, {
    env: { ...process.env, ...cleanToteEnv(), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  return new Promise((resolve) =>
    child.on('close', (code) => {
      children.delete(child);
      if (code !== 0) process.stderr.write(`tote scan exited ${code}\n${out}\n${err}\n`);
      resolve({ code, out, err });
    }),
  );
}

function rowOf(report: ScanReport, repo: string): ScanRow | undefined {
  return report.rows.find((r) => r.image === `${source.host}/${repo}:1.0`);
}

/** tote's events on `pod` (kubelet's own are left out). */
async function eventsOn(pod: string): Promise<EventView[]> {
  return (await podEvents(sb.kube.kubeConfig(), NS, pod)).filter(isToteEvent);
}

/** The digest the backup registry serves for `repo:tag`, or its HTTP status when it serves none. */
async function backupDigest(repo: string): Promise<string> {
  const res = await registryGet(backup, `/v2/backup/${repo}/manifests/1.0`, { accept: MANIFEST_ACCEPT });
  return res.status === 200 ? String(res.headers['docker-content-digest']) : `HTTP ${res.status}`;
}

test(
  'given an image its registry lost on one node, tote scan --backup should report it gone, warn and back it up',
  async () => {
    const ran = await tote('--json', '--backup', '--registry-insecure', `--namespace=${NS}`);
    expect(ran.code).toBe(0);
    const report = JSON.parse(ran.out) as ScanReport;
    expect(rowOf(report, 'scan/gone')).toMatchObject({
      digest: gone.digest,
      registry: 'gone',
      holders: ['node-1'],
      pods: [`${NS}/uses-gone`],
      atRisk: true,
      action: 'backed-up',
      backupRef: `${backup.host}/backup/scan/gone:1.0`,
    });
    expect(rowOf(report, 'scan/kept')).toMatchObject({
      digest: kept.digest,
      registry: 'present',
      holders: ['node-2'],
      atRisk: false,
      action: 'none',
    });
    expect(report.rows).toHaveLength(2);

    const warning = (await eventsOn('uses-gone')).find((e) => e.reason === 'ImageLastCopy');
    expect(warning?.type).toBe('Warning');
    expect(warning?.note).toContain('[node-1]');
    expect(warning?.note).toContain(`(workflow ${report.workflowId})`);
    expect(warning?.note).toContain('This is technical debt');
    expect((await eventsOn('uses-gone')).map((e) => e.reason)).toContain('ImagePushed');
    expect(await eventsOn('uses-kept')).toEqual([]);

    // The backup registry serves the lost image under the same digest; the image still at its source is not pushed.
    expect(await backupDigest('scan/gone')).toBe(gone.digest);
    expect(await backupDigest('scan/kept')).toBe('HTTP 404');
  },
  TIMEOUT,
);

test(
  'given no --backup, tote scan should print the table and only warn',
  async () => {
    const ran = await tote('--registry-insecure', `--namespace=${NS}`);
    expect(ran.code).toBe(0);
    const lines = ran.out.split('\n');
    expect(lines[0]).toMatch(/^IMAGE\s+DIGEST\s+REGISTRY\s+HOLDERS\s+NODES\s+ACTION$/);
    const short = gone.digest.slice(0, 19);
    expect(lines[1]).toMatch(
      new RegExp(`^\\S+/scan/gone:1\\.0\\s+${short}\\s+gone\\s+1\\s+node-1\\s+warned$`),
    );
    expect(lines[2]).toMatch(/^\S+\/scan\/kept:1\.0\s+sha256:\w{12}\s+present\s+1\s+node-2\s+none$/);
    expect(ran.out).toContain('2 images in use by running pods in scan-e2e; 1 at risk');
  },
  TIMEOUT,
);

test(
  "given --scan-interval, the worker's Schedule should run the same scan (all namespaces, backup on)",
  async () => {
    const connection = await Connection.connect({ address: sb.temporal.address });
    try {
      const client = new Client({ connection });
      const schedule = client.schedule.getHandle('tote-scan-last-copies');
      const before = await schedule.describe();
      expect(before.spec.intervals?.[0]?.every).toBe(24 * 3_600_000);
      await schedule.trigger();
      const workflowId = await waitFor(
        'a scan started by the schedule',
        async () =>
          (await schedule.describe()).info.recentActions.at(-1)?.action.workflow.workflowId ?? false,
        60_000,
      );
      const report = (await client.workflow.getHandle(workflowId).result()) as ScanReport;
      expect(report.namespace).toBeUndefined();
      expect(rowOf(report, 'scan/gone')).toMatchObject({
        registry: 'gone',
        atRisk: true,
        action: 'backed-up',
      });
      expect(rowOf(report, 'scan/kept')).toMatchObject({ registry: 'present', action: 'none' });
    } finally {
      await connection.close();
    }
  },
  TIMEOUT,
);
