import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createKubePki, writeKubeconfig, type KubePki } from './kube-files.js';
import { startControlPlane } from './kube-control-plane.js';
import { awaitTool, httpsGet, retryOnEarlyExit, waitUntilReady } from './kube-process.js';
import { freePort } from './ports.js';
import type { Managed, Run } from './run.js';
import { toolPath } from './tools.js';

/** Options of {@link startKube}. */
export interface KubeOptions {
  /** How long to wait for etcd and for the apiserver's /readyz, each. @default 60000 */
  readyTimeoutMs?: number;
  /** How long to wait for a kube-apiserver binary that setup is still building. @default 1800000 (30 min) */
  toolWaitMs?: number;
  /**
   * Also run kube-controller-manager and kube-scheduler, as a real cluster does: ReplicaSets, Jobs and garbage
   * collection act, the `default` ServiceAccount appears, pods get scheduled. Off, objects only change when a test
   * changes them (suites that write pod statuses by hand). @default false
   */
  controlPlane?: boolean;
}

/** What {@link Kube.mintKubeconfig} makes a kubeconfig for. */
export interface MintOptions {
  namespace: string;
  serviceAccount: string;
  /** Token lifetime. @default 86400 (one day: longer than any test run) */
  expirationSeconds?: number;
}

/** A running etcd + kube-apiserver pair on loopback. */
export interface Kube {
  /** `https://127.0.0.1:<port>` */
  server: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  caFile: string;
  /** Kubeconfig of a client-certificate user in group system:masters. */
  adminKubeconfigPath: string;
  /** `http://127.0.0.1:<port>` of the etcd behind it. */
  etcdUrl: string;
  /** Wall time from the start of {@link startKube} until /readyz answered ok. */
  startupMs: number;
  /** The certificates behind it; kubelets get theirs issued from these authorities. */
  pki: KubePki;
  /** Whether kube-controller-manager and kube-scheduler run ({@link KubeOptions.controlPlane}). */
  controlPlane: boolean;
  /** A fresh admin KubeConfig (loaded from {@link adminKubeconfigPath}). */
  kubeConfig(): KubeConfig;
  /** Ensures the namespace and ServiceAccount exist, gets a token by TokenRequest, writes a kubeconfig; its path. */
  mintKubeconfig(opts: MintOptions): Promise<string>;
  /** Stops kube-controller-manager and kube-scheduler (if running); the apiserver stays. Safe to call twice. */
  stopControlPlane(): Promise<void>;
  /** Stops the control plane, the apiserver, then etcd. Safe to call twice. */
  stop(): Promise<void>;
}

async function startEtcd(run: Run, timeoutMs: number): Promise<{ proc: Managed; url: string }> {
  return retryOnEarlyExit(3, async (attempt) => {
    const [client, peer] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    const proc = run.spawn({
      name: attempt === 1 ? 'etcd' : `etcd-${attempt}`,
      cmd: toolPath('etcd'),
      args: [
        '--name=sandbox',
        `--data-dir=${run.path('kube', `etcd-${attempt}`)}`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=sandbox=${peerUrl}`,
        // Test data is disposable; skipping fsync is what makes etcd start and write fast on a shared disk.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
    });
    await waitUntilReady(
      proc,
      `etcd health at ${url}`,
      async () => ((await (await fetch(`${url}/health`)).json()) as { health?: string }).health === 'true',
      timeoutMs,
    );
    return { proc, url };
  });
}

function apiserverArgs(pki: KubePki, etcdUrl: string, port: number, controlPlane: boolean): string[] {
  const serviceAccounts = controlPlane
    ? []
    : // Without a controller-manager nobody creates the "default" ServiceAccount the admission plugin insists on.
      ['--disable-admission-plugins=ServiceAccount'];
  return [
    `--etcd-servers=${etcdUrl}`,
    `--secure-port=${port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--tls-cert-file=${pki.serving.cert}`,
    `--tls-private-key-file=${pki.serving.key}`,
    `--client-ca-file=${pki.clientCA.cert}`,
    '--authorization-mode=Node,RBAC',
    ...serviceAccounts,
    '--enable-admission-plugins=NodeRestriction',
    // kubectl logs/exec: reach kubelets by the InternalIP they report, verify them with the serving CA, and
    // authenticate with a client certificate their x509 authenticator trusts.
    '--kubelet-preferred-address-types=InternalIP',
    `--kubelet-certificate-authority=${pki.servingCA.cert}`,
    `--kubelet-client-certificate=${pki.kubeletClient.cert}`,
    `--kubelet-client-key=${pki.kubeletClient.key}`,
    `--service-account-issuer=https://127.0.0.1:${port}/`,
    `--service-account-key-file=${pki.saSigner.cert}`,
    `--service-account-signing-key-file=${pki.saSigner.key}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    '--profiling=false',
    // One apiserver, no kube-proxy: the endpoint reconciler would only add churn.
    '--endpoint-reconciler-type=none',
    '--v=0',
  ];
}

async function startApiserver(
  run: Run,
  opts: { pki: KubePki; etcdUrl: string; binary: string; timeoutMs: number; controlPlane: boolean },
): Promise<{ proc: Managed; server: string }> {
  const { pki } = opts;
  const auth = { ca: readFileSync(pki.servingCA.cert, 'utf8'), cert: readFileSync(pki.admin.cert, 'utf8') };
  const tls = { ...auth, key: readFileSync(pki.admin.key, 'utf8') };
  return retryOnEarlyExit(3, async (attempt) => {
    const port = await freePort();
    const server = `https://127.0.0.1:${port}`;
    const proc = run.spawn({
      name: attempt === 1 ? 'kube-apiserver' : `kube-apiserver-${attempt}`,
      cmd: opts.binary,
      args: apiserverArgs(pki, opts.etcdUrl, port, opts.controlPlane),
    });
    await waitUntilReady(
      proc,
      `kube-apiserver /readyz at ${server}`,
      async () => (await httpsGet(`${server}/readyz`, tls)).status === 200,
      opts.timeoutMs,
    );
    return { proc, server };
  });
}

function isConflict(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

async function mint(kube: Kube, dir: string, opts: MintOptions): Promise<string> {
  const core = kube.kubeConfig().makeApiClient(CoreV1Api);
  const { namespace, serviceAccount: name } = opts;
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((err: unknown) => {
    if (!isConflict(err)) throw err;
  });
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
    .catch((err: unknown) => {
      if (!isConflict(err)) throw err;
    });
  // Empty audiences = the apiserver's own audience (its issuer), which is what it accepts back.
  const req = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: opts.expirationSeconds ?? 86400 } },
  });
  const token = req.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return writeKubeconfig({
    file: path.join(dir, `${namespace}.${name}.kubeconfig`),
    server: kube.server,
    caFile: kube.caFile,
    userName: `system:serviceaccount:${namespace}:${name}`,
    user: { token },
    namespace,
  });
}

/**
 * Starts etcd 3.6 and kube-apiserver on free loopback ports with freshly generated certificates, RBAC on and an
 * admin client certificate; resolves once /readyz is ok (RBAC bootstrap roles exist by then). The startup time is
 * appended to `<run>/logs/harness.log`. On failure everything started here is stopped; print `run.tailLogs()`.
 */
export async function startKube(run: Run, opts: KubeOptions = {}): Promise<Kube> {
  const t0 = Date.now();
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const binary = await awaitTool('kube-apiserver', opts.toolWaitMs ?? 1_800_000);
  const dir = run.path('kube');
  const started: Managed[] = [];
  try {
    const etcdReady = startEtcd(run, timeoutMs);
    let pki: KubePki;
    try {
      // Certificates take a few openssl calls: make them while etcd boots.
      pki = createKubePki(run.path('kube', 'pki'));
    } catch (err) {
      await etcdReady.then(
        (e) => e.proc.stop(),
        () => undefined,
      );
      throw err;
    }
    const etcd = await etcdReady;
    started.push(etcd.proc);
    const controlPlane = opts.controlPlane ?? false;
    const api = await startApiserver(run, { pki, etcdUrl: etcd.url, binary, timeoutMs, controlPlane });
    started.push(api.proc);
    const adminKubeconfigPath = writeKubeconfig({
      file: path.join(dir, 'admin.kubeconfig'),
      server: api.server,
      caFile: pki.servingCA.cert,
      userName: 'tote-admin',
      user: { clientCert: pki.admin },
    });
    const controllers = controlPlane
      ? await startControlPlane(run, {
          server: api.server,
          pki,
          adminKubeconfigPath,
          toolWaitMs: opts.toolWaitMs,
          timeoutMs,
        })
      : [];
    started.push(...controllers);
    const startupMs = Date.now() - t0;
    appendFileSync(
      path.join(run.logsDir, 'harness.log'),
      `etcd+kube-apiserver${controlPlane ? '+controller-manager+scheduler' : ''} ready in ${startupMs} ms\n`,
    );
    const kube: Kube = {
      server: api.server,
      caFile: pki.servingCA.cert,
      adminKubeconfigPath,
      etcdUrl: etcd.url,
      startupMs,
      pki,
      controlPlane,
      kubeConfig: () => {
        const kc = new KubeConfig();
        kc.loadFromFile(adminKubeconfigPath);
        return kc;
      },
      mintKubeconfig: (m) => mint(kube, run.path('kube', 'kubeconfigs'), m),
      stopControlPlane: async () => {
        for (const p of [...controllers].reverse()) await p.stop();
      },
      stop: async () => {
        for (const p of [...started].reverse()) await p.stop();
      },
    };
    return kube;
  } catch (err) {
    for (const p of started.reverse()) await p.stop();
    throw err;
  }
}
