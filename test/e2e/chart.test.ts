import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ApiException,
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
  type V1Container,
  type V1CustomResourceDefinition,
  type V1PodSpec,
} from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { buildProgram } from '../../cli/main.js';
import { SEARCH_ATTRIBUTES } from '../../common/names.js';
import { parseAgentConfig } from '../../workers/agent.js';
import { parseControllerConfig } from '../../workers/controller.js';
import { parseWorkerConfig } from '../../workers/worker.js';
import { startKube, type Kube } from '../harness/kube.js';
import { createCA } from '../harness/pki.js';
import { waitFor } from '../harness/ports.js';
import { Run } from '../harness/run.js';
import { toolPath } from '../harness/tools.js';

// The chart's tests: `helm lint` over the value combinations users run, the schema rejecting wrong values with a
// readable message, invariants over every rendered manifest (`helm template` matrix), and a real `helm install`
// into the sandbox kube-apiserver, where every object passes server-side validation and the chart's RBAC is
// checked by acting as its ServiceAccounts.

const CHART = path.resolve('charts/tote');
const FIXTURE_CRDS = path.resolve('test/fixtures/crds');
// go-installed helm v3 defaults its KubeVersion capability to v1.20; the chart needs >= 1.27.
const KUBE_VERSION = '1.34.4';

type Values = Record<string, unknown>;

/** The value combinations the chart supports; each is linted, rendered and checked. */
const COMBOS: Record<string, Values> = {
  defaults: {},
  'mtls-existing-secret': { tls: { enabled: true, existingSecret: 'tote-mtls' } },
  'mtls-cert-manager': { tls: { enabled: true, certManager: { enabled: true } } },
  'embedded-temporal': {
    temporal: {
      embedded: true,
      namespace: 'tote',
      server: { persistence: { size: '5Gi', storageClass: 'fast' }, ui: { service: { type: 'NodePort' } } },
    },
  },
  'temporal-cloud-api-key': {
    temporal: {
      embedded: false,
      address: 'tote.a1b2c.tmprl.cloud:7233',
      namespace: 'tote.a1b2c',
      apiKey: { existingSecret: 'temporal-api-key' },
    },
  },
  'temporal-mtls': {
    temporal: {
      embedded: false,
      address: 'temporal-frontend.temporal.svc:7233',
      tls: {
        existingSecret: 'temporal-client',
        caSecret: 'temporal-ca',
        serverName: 'temporal.example.internal',
      },
    },
  },
  'approve-mode': { mode: 'approve' },
  'detect-only': { mode: 'detect-only', enabled: false },
  'backup-registry-with-secret': {
    backupRegistry: { url: 'backup.example.internal:5000/salvaged', existingSecret: 'backup-creds' },
    webhook: {
      url: 'https://hooks.example.internal/tote',
      events: ['salvaged', 'salvage_failed'],
      existingSecret: 'tote-webhook',
    },
    registryResolve: { enabled: true },
  },
  'private-registry-cas': {
    registryResolve: { enabled: true, timeout: '15s', caConfigMap: 'corp-roots', caKey: 'bundle.pem' },
    backupRegistry: { url: 'backup.example.internal:5000', caSecret: 'backup-ca' },
  },
  'network-policy': { networkPolicy: { enabled: true } },
  'upload-rate': { agent: { maxUploadRate: '64Mi' } },
  monitoring: {
    metrics: {
      serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
      prometheusRule: { enabled: true },
      grafanaDashboard: { enabled: true },
    },
  },
};

/** Everything at once, what the install test deploys (cert-manager and Prometheus CRDs come from fixtures). */
const EVERYTHING: Values = {
  mode: 'approve',
  tls: { enabled: true, certManager: { enabled: true } },
  backupRegistry: { url: 'backup.example.internal:5000', existingSecret: 'backup-creds' },
  webhook: { url: 'https://hooks.example.internal/tote', existingSecret: 'tote-webhook' },
  networkPolicy: { enabled: true },
  metrics: {
    serviceMonitor: { enabled: true },
    prometheusRule: { enabled: true },
    grafanaDashboard: { enabled: true },
  },
};

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let tmp: string;
/** A real PEM certificate: the CA bundle flags parse their file at start, a stand-in would not do. */
let pem: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'tote-chart-'));
  pem = readFileSync(createCA(path.join(tmp, 'stand-in-ca'), 'stand-in-ca').cert, 'utf8');
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function helm(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(toolPath('helm'), args, { maxBuffer: 64 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function valuesFile(name: string, values: Values): string {
  const file = path.join(tmp, `${name}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

async function render(name: string, values: Values): Promise<KubernetesObject[]> {
  const res = await helm([
    'template',
    'tote',
    CHART,
    '--namespace',
    'tote',
    '--kube-version',
    KUBE_VERSION,
    '--values',
    valuesFile(name, values),
  ]);
  if (res.code !== 0) throw new Error(`helm template (${name}) failed:\n${res.stderr}`);
  return parseAllDocuments(res.stdout)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);
}

function find(objs: KubernetesObject[], kind: string, name: string): KubernetesObject {
  const o = objs.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`${kind}/${name} not rendered`);
  return o;
}

function podSpec(o: KubernetesObject): V1PodSpec | undefined {
  return (o as { spec?: { template?: { spec?: V1PodSpec } } }).spec?.template?.spec;
}

function args(objs: KubernetesObject[], kind: string, name: string): string[] {
  return podSpec(find(objs, kind, name))?.containers[0]?.args ?? [];
}

describe('helm lint', () => {
  test.each(Object.keys(COMBOS))('given the %s values, should lint clean', async (name) => {
    const res = await helm([
      'lint',
      CHART,
      '--strict',
      '--kube-version',
      KUBE_VERSION,
      '--values',
      valuesFile(`lint-${name}`, COMBOS[name] ?? {}),
    ]);
    expect(`${res.stdout}${res.stderr}`).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(res.code).toBe(0);
  });
});

describe('values.schema.json', () => {
  test('given a mode that does not exist, should refuse it and list the accepted modes', async () => {
    const res = await helm(['template', 'tote', CHART, '--kube-version', KUBE_VERSION, '--set', 'mode=fast']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("at '/mode': value must be one of 'auto', 'approve', 'detect-only'");
  });

  test('given an unknown top-level key (a typo), should refuse it and name the key', async () => {
    const res = await helm([
      'template',
      'tote',
      CHART,
      '--kube-version',
      KUBE_VERSION,
      '--set',
      'enable=false',
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("additional properties 'enable' not allowed");
  });

  test('given a number written as a word, should refuse it and say which type it wants', async () => {
    const res = await helm([
      'template',
      'tote',
      CHART,
      '--kube-version',
      KUBE_VERSION,
      '--set',
      'salvage.maxConcurrent=two',
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("at '/salvage/maxConcurrent': got string, want integer");
  });

  test('given mTLS on without a certificate source, should refuse to render', async () => {
    const res = await helm([
      'template',
      'tote',
      CHART,
      '--kube-version',
      KUBE_VERSION,
      '--set',
      'tls.enabled=true',
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('/tls/existingSecret');
  });

  test('given an external Temporal without an address, should refuse to render', async () => {
    const res = await helm([
      'template',
      'tote',
      CHART,
      '--kube-version',
      KUBE_VERSION,
      '--set',
      'temporal.embedded=false',
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("at '/temporal/address'");
  });
});

function expectHardened(c: V1Container, spec: V1PodSpec, where: string): void {
  const sc = c.securityContext ?? {};
  expect({
    where,
    ro: sc.readOnlyRootFilesystem,
    esc: sc.allowPrivilegeEscalation,
    priv: !!sc.privileged,
  }).toEqual({ where, ro: true, esc: false, priv: false });
  expect({ where, drop: sc.capabilities?.drop, add: sc.capabilities?.add }).toEqual({
    where,
    drop: ['ALL'],
    add: undefined,
  });
  expect({ where, limits: c.resources?.limits?.memory !== undefined }).toEqual({ where, limits: true });
  expect({ where, hostNetwork: !!spec.hostNetwork, hostPID: !!spec.hostPID }).toEqual({
    where,
    hostNetwork: false,
    hostPID: false,
  });
}

describe('helm template matrix', () => {
  test.each(Object.keys(COMBOS))('given the %s values, every pod should be hardened', async (name) => {
    const objs = await render(`tpl-${name}`, COMBOS[name] ?? {});
    const workloads = objs.filter((o) => ['Deployment', 'DaemonSet'].includes(o.kind ?? ''));
    expect(workloads.length).toBeGreaterThanOrEqual(3);
    for (const w of workloads) {
      const spec = podSpec(w);
      if (!spec) throw new Error(`${w.kind}/${w.metadata?.name} has no pod spec`);
      const isAgent = w.kind === 'DaemonSet';
      for (const c of spec.containers) expectHardened(c, spec, `${w.metadata?.name}/${c.name}`);
      const hostPaths = (spec.volumes ?? []).filter((v) => v.hostPath);
      // Only the agent touches the node, and only containerd's socket directory, read-only.
      expect(hostPaths.map((v) => v.hostPath?.path)).toEqual(isAgent ? ['/run/containerd'] : []);
      if (isAgent) {
        expect(spec.automountServiceAccountToken).toBe(false);
        expect(spec.containers[0]?.volumeMounts?.find((m) => m.name === 'containerd')?.readOnly).toBe(true);
      } else {
        expect(spec.securityContext?.runAsNonRoot).toBe(true);
      }
    }
  });

  test('given the defaults, RBAC should grant no Secret access and the agent no role at all', async () => {
    const objs = await render('rbac-defaults', {});
    const roles = objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    const rules = roles.flatMap((r) => (r as { rules?: { resources?: string[] }[] }).rules ?? []);
    expect(rules.flatMap((r) => r.resources ?? [])).not.toContain('secrets');
    const bindings = objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding');
    const subjects = bindings.flatMap((b) => (b as { subjects?: { name: string }[] }).subjects ?? []);
    expect(subjects.map((s) => s.name)).not.toContain('tote-agent');
    expect(find(objs, 'ServiceAccount', 'tote-agent')).toMatchObject({ automountServiceAccountToken: false });
  });

  test('given a backup registry Secret, the worker may get that one Secret, by name, in its namespace', async () => {
    const objs = await render('rbac-backup', COMBOS['backup-registry-with-secret'] ?? {});
    const role = find(objs, 'Role', 'tote-worker') as KubernetesObject & {
      rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[];
    };
    expect(role.metadata?.namespace).toBe('tote');
    expect(role.rules.filter((r) => r.resources.includes('secrets'))).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['backup-creds'], verbs: ['get'] },
    ]);
    const clusterRules = objs
      .filter((o) => o.kind === 'ClusterRole')
      .flatMap((r) => (r as { rules: { resources: string[] }[] }).rules);
    expect(clusterRules.flatMap((r) => r.resources)).not.toContain('secrets');
    const workerArgs = args(objs, 'Deployment', 'tote-worker');
    expect(workerArgs).toEqual(
      expect.arrayContaining([
        '--backup-registry=backup.example.internal:5000/salvaged',
        '--backup-registry-secret=backup-creds',
        '--webhook-url=https://hooks.example.internal/tote',
        '--webhook-events=salvaged,salvage_failed',
        '--registry-resolve',
      ]),
    );
    // The HMAC key reaches the worker through the environment, never through its command line.
    expect(workerArgs.join(' ')).not.toContain('tote-webhook');
  });

  test('given private registry CAs, the worker and the agent should mount them read-only and pass their flags', async () => {
    const objs = await render('registry-cas', COMBOS['private-registry-cas'] ?? {});
    const worker = podSpec(find(objs, 'Deployment', 'tote-worker'));
    expect(args(objs, 'Deployment', 'tote-worker')).toEqual(
      expect.arrayContaining([
        '--registry-resolve',
        '--registry-resolve-timeout=15s',
        '--registry-resolve-ca=/etc/tote/registry-resolve-ca/bundle.pem',
      ]),
    );
    expect(worker?.volumes).toContainEqual({
      name: 'registry-resolve-ca',
      configMap: { name: 'corp-roots', items: [{ key: 'bundle.pem', path: 'bundle.pem' }] },
    });
    expect(worker?.containers[0]?.volumeMounts).toContainEqual({
      name: 'registry-resolve-ca',
      mountPath: '/etc/tote/registry-resolve-ca',
      readOnly: true,
    });
    const agent = podSpec(find(objs, 'DaemonSet', 'tote-agent'));
    expect(args(objs, 'DaemonSet', 'tote-agent')).toContain(
      '--backup-registry-ca=/etc/tote/backup-registry-ca/ca.crt',
    );
    expect(agent?.volumes).toContainEqual({
      name: 'backup-registry-ca',
      secret: { secretName: 'backup-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
    expect(agent?.containers[0]?.volumeMounts).toContainEqual({
      name: 'backup-registry-ca',
      mountPath: '/etc/tote/backup-registry-ca',
      readOnly: true,
    });
    // Defaults: the 5 s timeout with resolution on, no CA and no mount anywhere.
    const plain = await render('registry-cas-off', { registryResolve: { enabled: true } });
    expect(args(plain, 'Deployment', 'tote-worker')).toContain('--registry-resolve-timeout=5s');
    expect(JSON.stringify(plain)).not.toMatch(/registry-resolve-ca|backup-registry-ca/);
  });

  test('given agent.maxUploadRate, the agent should get --max-upload-rate (default 0: unlimited)', async () => {
    expect(
      args(await render('rate', { agent: { maxUploadRate: '64Mi' } }), 'DaemonSet', 'tote-agent'),
    ).toContain('--max-upload-rate=64Mi');
    // A YAML number is printed as an integer, not in float notation.
    expect(
      args(await render('rate-n', { agent: { maxUploadRate: 67108864 } }), 'DaemonSet', 'tote-agent'),
    ).toContain('--max-upload-rate=67108864');
    expect(args(await render('rate-default', {}), 'DaemonSet', 'tote-agent')).toContain(
      '--max-upload-rate=0',
    );
  });

  test("the agent should run node with the chart's node flags before the image's script", async () => {
    const spec = podSpec(find(await render('node-flags', {}), 'DaemonSet', 'tote-agent'));
    expect(spec?.containers[0]?.command).toEqual(['node', '--initial-old-space-size=64', 'bin/tote.js']);
    const custom = podSpec(
      find(await render('node-flags-none', { agent: { nodeFlags: [] } }), 'DaemonSet', 'tote-agent'),
    );
    expect(custom?.containers[0]?.command).toEqual(['node', 'bin/tote.js']);
  });

  test('given approve mode and the kill switch off, the controller should get both flags', async () => {
    const objs = await render('mode', { mode: 'approve', enabled: false });
    expect(args(objs, 'Deployment', 'tote-controller')).toEqual(
      expect.arrayContaining(['--mode=approve', '--enabled=false']),
    );
  });

  test('given mTLS, agents and workers should mount the certificate and pass --tls-*', async () => {
    for (const combo of ['mtls-existing-secret', 'mtls-cert-manager']) {
      const objs = await render(`tls-${combo}`, COMBOS[combo] ?? {});
      for (const [kind, name] of [
        ['DaemonSet', 'tote-agent'],
        ['Deployment', 'tote-worker'],
      ] as const) {
        const a = args(objs, kind, name);
        expect(a).toEqual(
          expect.arrayContaining(['--tls-cert=/etc/tote/tls/tls.crt', '--tls-ca=/etc/tote/tls/ca.crt']),
        );
        expect(a).not.toContain('--insecure-plaintext');
      }
    }
    const plain = await render('tls-off', {});
    expect(args(plain, 'DaemonSet', 'tote-agent')).toContain('--insecure-plaintext');
  });

  test('given the embedded Temporal, it should register exactly the search attributes tote sets', async () => {
    const objs = await render('temporal-embedded', COMBOS['embedded-temporal'] ?? {});
    const serverArgs = args(objs, 'Deployment', 'tote-temporal');
    const attrs = serverArgs
      .filter((a) => a.startsWith('--search-attribute='))
      .map((a) => a.slice('--search-attribute='.length));
    expect(attrs.sort()).toEqual(
      Object.entries(SEARCH_ATTRIBUTES)
        .map(([k, t]) => `${k}=${t}`)
        .sort(),
    );
    expect(serverArgs).toEqual(expect.arrayContaining(['--ip=0.0.0.0', '--db-filename=/data/temporal.db']));
    expect(find(objs, 'PersistentVolumeClaim', 'tote-temporal')).toBeDefined();
    expect(find(objs, 'Service', 'tote-temporal-ui')).toBeDefined();
    expect(args(objs, 'Deployment', 'tote-worker')).toContain(
      '--temporal-address=tote-temporal.tote.svc:7233',
    );
  });

  test('given Temporal Cloud with an API key, no dev server should render and the key should be a file', async () => {
    const objs = await render('temporal-cloud', COMBOS['temporal-cloud-api-key'] ?? {});
    expect(objs.find((o) => o.metadata?.name === 'tote-temporal')).toBeUndefined();
    expect(args(objs, 'Deployment', 'tote-controller')).toEqual(
      expect.arrayContaining([
        '--temporal-address=tote.a1b2c.tmprl.cloud:7233',
        '--temporal-namespace=tote.a1b2c',
        '--temporal-api-key-file=/etc/tote/temporal-api-key/api-key',
      ]),
    );
  });
});

/** The long option names `tote <command>` accepts, straight from the CLI's commander definition. */
async function cliOptions(command: string): Promise<string[]> {
  const cmd = (await buildProgram(['node', 'tote', command])).commands.find((c) => c.name() === command);
  if (!cmd) throw new Error(`tote has no "${command}" command`);
  return cmd.options.map((o) => o.long ?? '');
}

type Opts = Record<string, string | boolean>;

/** Parses `argv` with the real `tote <command>` definition and returns the options its action would get. */
async function cliParse(command: string, argv: string[]): Promise<Opts> {
  const program = (await buildProgram(['node', 'tote', command])).configureOutput({
    writeErr: () => undefined,
  });
  let captured: Opts = {};
  program.commands
    .find((c) => c.name() === command)
    ?.action((opts: Opts) => {
      captured = opts;
    });
  await program.parseAsync(['node', 'tote', command, ...argv]);
  return captured;
}

/** Mounted files (certificates, the API key) become readable stand-ins, as the kubelet would provide. */
function withMountedFiles(argv: string[]): string[] {
  return argv.map((a) => {
    const m = /^(--[^=]+)=(\/etc\/tote\/.+)$/.exec(a);
    if (!m) return a;
    const file = path.join(tmp, m[2]?.replace(/\//g, '_') ?? 'f');
    writeFileSync(file, /^--(registry-resolve|backup-registry)-ca$/.test(m[1] ?? '') ? pem : 'stand-in\n');
    return `${m[1]}=${file}`;
  });
}

/** Runs the process's own configuration validator, exactly as `tote <command>` does at start. */
async function validate(command: 'controller' | 'worker' | 'agent', argv: string[]): Promise<void> {
  const opts = await cliParse(command, withMountedFiles(argv));
  // The environment the chart sets through valueFrom (Secrets, the downward API).
  if (command === 'controller') parseControllerConfig(opts, {});
  if (command === 'worker') parseWorkerConfig(opts, { TOTE_WEBHOOK_SECRET: 'hmac' });
  if (command === 'agent') {
    parseAgentConfig({ insecureDev: opts.insecurePlaintext, ...opts }, { TOTE_NODE_NAME: 'node-a' });
  }
}

const PROCESSES = [
  ['Deployment', 'tote-controller', 'controller'],
  ['Deployment', 'tote-worker', 'worker'],
  ['DaemonSet', 'tote-agent', 'agent'],
] as const;

describe('rendered flags', () => {
  test('given a value a process rejects, the validator used here should reject it too', async () => {
    await expect(validate('worker', ['--insecure-plaintext', '--session-ttl=5d'])).rejects.toThrow(
      '--session-ttl: invalid value "5d"',
    );
    await expect(validate('agent', ['--insecure-plaintext', '--no-such-flag'])).rejects.toThrow(
      "unknown option '--no-such-flag'",
    );
  });

  // A flag or value the process rejects stops it at start: catch it here, not in a crash-looping pod.
  test.each(Object.keys(COMBOS))(
    'given the %s values, every process should accept its flags and their values',
    async (name) => {
      const objs = await render(`flags-${name}`, COMBOS[name] ?? {});
      for (const [kind, obj, command] of PROCESSES) {
        const [sub, ...flags] = args(objs, kind, obj);
        expect(sub).toBe(command);
        const known = await cliOptions(command);
        const unknown = flags.map((f) => f.split('=', 1)[0] ?? '').filter((f) => !known.includes(f));
        expect({ command, unknown }).toEqual({ command, unknown: [] });
        await validate(command, flags);
      }
    },
  );
});

// ---------------------------------------------------------------- install into the sandbox kube-apiserver

async function applyCrd(kc: KubeConfig, file: string): Promise<string> {
  const crd = parseAllDocuments(readFileSync(file, 'utf8'))[0]?.toJS() as V1CustomResourceDefinition;
  await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: crd });
  return crd.metadata?.name ?? '';
}

async function crdEstablished(kc: KubeConfig, name: string): Promise<boolean> {
  const crd = await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name });
  return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
}

async function httpCode(fn: () => Promise<unknown>): Promise<number> {
  try {
    await fn();
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

function asUser(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

describe('helm install into the sandbox kube-apiserver', () => {
  let run: Run;
  let kube: Kube;
  let kc: KubeConfig;

  beforeAll(async () => {
    run = Run.create('e2e-chart');
    try {
      kube = await startKube(run);
      kc = kube.kubeConfig();
      const names = [];
      for (const f of readdirSync(FIXTURE_CRDS).filter((x) => x.endsWith('.yaml'))) {
        names.push(await applyCrd(kc, path.join(FIXTURE_CRDS, f)));
      }
      for (const n of names) await waitFor(`CRD ${n} established`, () => crdEstablished(kc, n));
    } catch (err) {
      console.error(run.tailLogs());
      await run.stop();
      throw err;
    }
  }, 300_000);

  afterAll(async () => {
    await run?.stop();
  });

  const kubeArgs = (): string[] => ['--kubeconfig', kube.adminKubeconfigPath, '--namespace', 'tote'];

  test('given every feature on, helm install should create every object (server-side validated)', async () => {
    const res = await helm([
      'install',
      'tote',
      CHART,
      ...kubeArgs(),
      '--create-namespace',
      '--wait=false',
      '--values',
      valuesFile('install-everything', EVERYTHING),
    ]);
    if (res.code !== 0) console.error(res.stderr);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('STATUS: deployed');
    expect(res.stdout).toContain('kubectl annotate namespace <NAMESPACE> tote.dev/allow=true');

    // What helm rendered is exactly what the apiserver now stores.
    const manifest = await helm(['get', 'manifest', 'tote', ...kubeArgs()]);
    const rendered = parseAllDocuments(manifest.stdout)
      .map((d) => d.toJS() as KubernetesObject | null)
      .filter((o): o is KubernetesObject => o !== null);
    expect(rendered.length).toBeGreaterThan(20);
    const client = KubernetesObjectApi.makeApiClient(kc);
    for (const o of rendered) {
      const got = await client.read({
        apiVersion: o.apiVersion ?? '',
        kind: o.kind ?? '',
        metadata: { name: o.metadata?.name ?? '', namespace: o.metadata?.namespace ?? 'tote' },
      });
      expect(`${got.kind}/${got.metadata?.name}`).toBe(`${o.kind}/${o.metadata?.name}`);
    }
    // The SalvageRecord CRD ships in crds/ and is installed with the chart.
    await waitFor('SalvageRecord CRD established', () => crdEstablished(kc, 'salvagerecords.tote.dev'));
    const ds = await kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDaemonSet({ namespace: 'tote', name: 'tote-agent' });
    expect(ds.spec?.template.spec?.automountServiceAccountToken).toBe(false);
  }, 180_000);

  test('given the installed ServiceAccounts, RBAC should allow their jobs and refuse anything else', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    for (const [ns, name] of [
      ['tote', 'backup-creds'],
      ['tote', 'other-secret'],
      ['default', 'backup-creds'],
    ] as const) {
      await core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name }, stringData: { k: 'v' } },
      });
    }
    const worker = asUser(await kube.mintKubeconfig({ namespace: 'tote', serviceAccount: 'tote-worker' }));
    const controller = asUser(
      await kube.mintKubeconfig({ namespace: 'tote', serviceAccount: 'tote-controller' }),
    );
    const agent = asUser(await kube.mintKubeconfig({ namespace: 'tote', serviceAccount: 'tote-agent' }));
    const wCore = worker.makeApiClient(CoreV1Api);
    const cCore = controller.makeApiClient(CoreV1Api);

    // The worker: its one Secret by name, nothing else secret; pods anywhere; SalvageRecords.
    expect(
      await httpCode(() => wCore.readNamespacedSecret({ namespace: 'tote', name: 'backup-creds' })),
    ).toBe(200);
    expect(
      await httpCode(() => wCore.readNamespacedSecret({ namespace: 'tote', name: 'other-secret' })),
    ).toBe(403);
    expect(
      await httpCode(() => wCore.readNamespacedSecret({ namespace: 'default', name: 'backup-creds' })),
    ).toBe(403);
    expect(await httpCode(() => wCore.listNamespacedSecret({ namespace: 'tote' }))).toBe(403);
    expect(await httpCode(() => wCore.listPodForAllNamespaces())).toBe(200);
    const records = worker.makeApiClient(CustomObjectsApi);
    const listRecords = (): Promise<number> =>
      httpCode(() =>
        records.listClusterCustomObject({ group: 'tote.dev', version: 'v1alpha1', plural: 'salvagerecords' }),
      );
    // A new CRD's watch cache answers 429 "storage is (re)initializing" for a moment; that is not a refusal.
    const listed = await waitFor('SalvageRecord list past cache warm-up', async () => {
      const code = await listRecords();
      return code === 429 ? false : code;
    });
    expect(listed).toBe(200);
    // `tote doctor` runs as the worker: it may read the SalvageRecord CRD by name, and list no CRDs.
    const wExt = worker.makeApiClient(ApiextensionsV1Api);
    const crd = { name: 'salvagerecords.tote.dev' };
    expect(await httpCode(() => wExt.readCustomResourceDefinition(crd))).toBe(200);
    expect(await httpCode(() => wExt.listCustomResourceDefinition())).toBe(403);
    expect(await httpCode(() => wCore.deleteNamespace({ name: 'default' }))).toBe(403);

    const digest = `sha256:${'ab'.repeat(32)}`;
    const record = (name: string): object => ({
      apiVersion: 'tote.dev/v1alpha1',
      kind: 'SalvageRecord',
      metadata: { name },
      spec: {
        digest,
        imageRef: `registry.invalid/app@${digest}`,
        podName: 'web',
        sourceNode: 'node-a',
        targetNode: 'node-b',
        workflowId: `salvage/${digest}/node-b`,
      },
    });
    const create = (k: KubeConfig, name: string) => (): Promise<unknown> =>
      k.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
        group: 'tote.dev',
        version: 'v1alpha1',
        namespace: 'default',
        plural: 'salvagerecords',
        body: record(name),
      });
    expect(await httpCode(create(worker, 'by-worker'))).toBe(200);
    expect(await httpCode(create(controller, 'by-controller'))).toBe(403);

    // The controller only watches and reports: no deletes, no secrets.
    expect(await httpCode(() => cCore.listPodForAllNamespaces())).toBe(200);
    expect(await httpCode(() => cCore.listNode())).toBe(200);
    expect(await httpCode(() => cCore.deleteNamespacedPod({ namespace: 'default', name: 'any' }))).toBe(403);
    expect(
      await httpCode(() => cCore.readNamespacedSecret({ namespace: 'tote', name: 'backup-creds' })),
    ).toBe(403);

    // The agent has no role: even with a token it can read nothing.
    expect(
      await httpCode(() => agent.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'tote' })),
    ).toBe(403);
  }, 60_000);

  test('given an upgrade to plain defaults with mTLS from an existing Secret, helm upgrade should succeed', async () => {
    const res = await helm([
      'upgrade',
      'tote',
      CHART,
      ...kubeArgs(),
      '--wait=false',
      '--values',
      valuesFile('upgrade', COMBOS['mtls-existing-secret'] ?? {}),
    ]);
    if (res.code !== 0) console.error(res.stderr);
    expect(res.code).toBe(0);
    const core = kc.makeApiClient(CoreV1Api);
    // Features turned off are removed again.
    expect(
      await httpCode(() => core.readNamespacedConfigMap({ namespace: 'tote', name: 'tote-dashboard' })),
    ).toBe(404);
    const uninstall = await helm(['uninstall', 'tote', ...kubeArgs(), '--wait=false']);
    expect(uninstall.code).toBe(0);
  }, 180_000);
});
