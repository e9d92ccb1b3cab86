/**
 * `tote doctor` against the real sandbox: Temporal with tote's search attributes, kube-apiserver with the chart's
 * CRD and RBAC, one mTLS `tote agent` per node, and `tote worker` and `tote controller` processes running as the
 * chart's ServiceAccounts. Doctor itself runs as a real process from the compiled CLI under the worker's
 * kubeconfig and client certificate, which is what `kubectl exec deploy/<release>-worker -- tote doctor` does.
 * Build first: `npx tsc -p tsconfig.build.json`.
 */
import { execFile } from 'node:child_process';
import { CoreV1Api } from '@kubernetes/client-node';
import type { CheckResult, DoctorReport } from '../../infra/doctor-report.js';
import { installChartIdentities, RELEASE } from '../harness/chart-rbac.js';
import { startToteController, type ControllerProcess } from '../harness/controller.js';
import { freePort, waitFor } from '../harness/ports.js';
import type { Managed } from '../harness/run.js';
import { startSandbox, type Sandbox } from '../harness/sandbox.js';
import { createTotePki, startAgents, TOTE_BIN, type AgentProcess, type TotePki } from '../harness/tote.js';

// Keep a developer's TOTE_* settings out of every process this suite starts.
const CLEAN_ENV = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('TOTE_'))
    .map((k) => [k, '']),
);

let sb: Sandbox | undefined;
let pki: TotePki;
let agents: AgentProcess[];
let controller: ControllerProcess;
let workerKubeconfig: string;
let workerReadyUrl: string;

async function startWorkerProcess(sandbox: Sandbox, kubeconfig: string): Promise<Managed> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const agentPort = agents[0]?.address.split(':')[1] ?? '';
  workerReadyUrl = `http://127.0.0.1:${healthPort}/readyz`;
  const managed = sandbox.run.spawn({
    name: 'worker',
    cmd: process.execPath,
    args: [
      TOTE_BIN,
      'worker',
      `--kubeconfig=${kubeconfig}`,
      `--temporal-address=${sandbox.temporal.address}`,
      `--agent-endpoint-template={nodeIP}:${agentPort}`,
      `--tls-cert=${pki.worker.cert}`,
      `--tls-key=${pki.worker.key}`,
      `--tls-ca=${pki.ca.cert}`,
      `--metrics-addr=127.0.0.1:${metricsPort}`,
      `--health-port=${healthPort}`,
    ],
    env: CLEAN_ENV,
  });
  await waitFor(
    `worker ready at ${workerReadyUrl}`,
    async () => {
      if (managed.child.exitCode !== null) throw new Error(`worker exited; see ${managed.logPath}`);
      return (await fetch(workerReadyUrl).catch(() => undefined))?.status === 200;
    },
    120_000,
  );
  return managed;
}

beforeAll(async () => {
  sb = await startSandbox({ label: 'e2e-doctor', nodes: 2, registry: false });
  pki = createTotePki(sb);
  const [started, ids] = await Promise.all([startAgents(sb, pki), installChartIdentities(sb.kube)]);
  agents = started;
  workerKubeconfig = ids.workerKubeconfig;
  controller = await startToteController(sb.run, {
    kubeconfig: ids.controllerKubeconfig,
    temporalAddress: sb.temporal.address,
  });
  await startWorkerProcess(sb, ids.workerKubeconfig);
  await sb.kube
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: 'shop', annotations: { 'tote.dev/allow': 'true' } } } });
}, 300_000);

afterAll(async () => {
  await sb?.stop();
});

/** The flags that point doctor at the sandbox, where tote runs outside Kubernetes. */
function sandboxFlags(): string[] {
  if (!sb) throw new Error('sandbox not started');
  const grpcPort = agents[0]?.address.split(':')[1] ?? '';
  const healthPort = new URL(agents[0]?.healthUrl ?? '').port;
  return [
    `--kubeconfig=${workerKubeconfig}`,
    `--temporal-address=${sb.temporal.address}`,
    `--agent-namespace=${RELEASE.namespace}`,
    `--agent-endpoint-template={nodeIP}:${grpcPort}`,
    `--agent-health-template=http://{nodeIP}:${healthPort}/readyz`,
    `--tls-cert=${pki.worker.cert}`,
    `--tls-key=${pki.worker.key}`,
    `--tls-ca=${pki.ca.cert}`,
    `--controller-url=${controller.readyUrl}`,
    `--worker-url=${workerReadyUrl}`,
  ];
}

/** Runs `tote doctor` as a process; resolves with its exit code and output. */
function doctor(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [TOTE_BIN, 'doctor', ...args],
      { env: { ...process.env, ...CLEAN_ENV }, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function parseReport(res: { code: number; stdout: string; stderr: string }): DoctorReport {
  try {
    return JSON.parse(res.stdout) as DoctorReport;
  } catch {
    throw new Error(`doctor exited ${res.code} without a JSON report: ${res.stderr}${res.stdout}`);
  }
}

function row(report: DoctorReport, name: string): CheckResult {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check "${name}" in ${report.checks.map((c) => c.name).join(', ')}`);
  return found;
}

const EXPECTED = [
  'kube-access',
  'rbac/worker',
  'crd',
  'namespaces',
  'controller',
  'worker',
  'agents',
  'agent/node-1',
  'agent/node-2',
  'versions',
  'temporal',
  'task-queue',
  'search-attributes',
];

test('given a healthy sandbox, doctor --json should report every check passed and exit 0', async () => {
  const res = await doctor(['--json', ...sandboxFlags()]);
  const report = parseReport(res);
  const failed = report.checks.filter((c) => c.status !== 'pass');
  expect(failed).toEqual([]);
  expect(report.healthy).toBe(true);
  expect(res.code).toBe(0);
  expect(report.checks.map((c) => c.name)).toEqual(EXPECTED);
  expect(row(report, 'agent/node-2').detail).toMatch(/mTLS ok/);
  expect(row(report, 'rbac/worker').detail).toContain(
    `system:serviceaccount:${RELEASE.namespace}:tote-worker`,
  );
  expect(row(report, 'namespaces').detail).toContain('shop');
}, 180_000);

test('given one agent stopped, doctor should report that agent unhealthy with a hint and exit 1', async () => {
  const stopped = agents[1];
  if (!stopped) throw new Error('need two agents');
  await stopped.kill();
  try {
    const res = await doctor(['--json', ...sandboxFlags()]);
    const report = parseReport(res);
    expect(res.code).toBe(1);
    expect(report.healthy).toBe(false);
    const down = row(report, `agent/${stopped.node}`);
    expect(down).toMatchObject({ ok: false, status: 'fail' });
    expect(down.hint).toContain(stopped.node);
    expect(row(report, 'agents')).toMatchObject({ ok: false });
    expect(row(report, 'agents').detail).toContain(stopped.node);
    const healthyRows = report.checks.filter((c) => !['agents', `agent/${stopped.node}`].includes(c.name));
    expect(healthyRows.filter((c) => !c.ok)).toEqual([]);

    // The human table says the same, without colours when stdout is not a terminal.
    const human = await doctor(sandboxFlags());
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(new RegExp(`agent/${stopped.node}\\s+FAIL`));
    expect(human.stdout).toContain('NOT healthy');
    expect(human.stdout).not.toContain('\x1b[');
    expect(human.stderr).toContain('tote: unhealthy');
  } finally {
    await stopped.start();
  }
}, 180_000);

test('given a bad flag value, doctor should exit 2 and name the flag', async () => {
  const res = await doctor(['--timeout=soon', ...sandboxFlags()]);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain('--timeout');
});
