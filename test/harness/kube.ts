import { appendFileSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createKubePki, writeKubeconfig, type KubePki } from './kube-files.js';
import { awaitTool, retryOnEarlyExit, waitUntilReady } from './kube-process.js';
import { freePort } from './ports.js';
import type { Managed, Run } from './run.js';
import { toolPath } from './tools.js';

/** Options of {@link startKube}. */
export interface KubeOptions {
  /** How long to wait for etcd and for the apiserver's /readyz, each. @default 60000 */
  readyTimeoutMs?: number;
  /** How long to wait for a kube-apiserver binary that setup is still building. @default 1800000 (30 min) */
  toolWaitMs?: number;
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
  /** A fresh admin KubeConfig (loaded from {@link adminKubeconfigPath}). */
  kubeConfig(): KubeConfig;
  /** Ensures the namespace and ServiceAccount exist, gets a token by TokenRequest, writes a kubeconfig; its path. */
  mintKubeconfig(opts: MintOptions): Promise<string>;
  /** Stops the apiserver, then etcd. Safe to call twice. */
  stop(): Promise<void>;
}

interface HttpsAuth {
  ca: string;
  cert: string;
  key: string;
}

function httpsGet(url: string, auth: HttpsAuth): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...auth, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
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

function apiserverArgs(pki: KubePki, etcdUrl: string, port: number): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    `--secure-port=${port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--tls-cert-file=${pki.serving.cert}`,
    `--tls-private-key-file=${pki.serving.key}`,
    `--client-ca-file=${pki.clientCA.cert}`,
    '--authorization-mode=Node,RBAC',
    // Without a controller-manager nobody creates the "default" ServiceAccount the admission plugin insists on.
    '--disable-admission-plugins=ServiceAccount',
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
  opts: { pki: KubePki; etcdUrl: string; binary: string; timeoutMs: number },
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
      args: apiserverArgs(pki, opts.etcdUrl, port),
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
    const api = await startApiserver(run, { pki, etcdUrl: etcd.url, binary, timeoutMs });
    started.push(api.proc);
    const adminKubeconfigPath = writeKubeconfig({
      file: path.join(dir, 'admin.kubeconfig'),
      server: api.server,
      caFile: pki.servingCA.cert,
      userName: 'tote-admin',
      user: { clientCert: pki.admin },
    });
    const startupMs = Date.now() - t0;
    appendFileSync(path.join(run.logsDir, 'harness.log'), `etcd+kube-apiserver ready in ${startupMs} ms\n`);
    const kube: Kube = {
      server: api.server,
      caFile: pki.servingCA.cert,
      adminKubeconfigPath,
      etcdUrl: etcd.url,
      startupMs,
      kubeConfig: () => {
        const kc = new KubeConfig();
        kc.loadFromFile(adminKubeconfigPath);
        return kc;
      },
      mintKubeconfig: (m) => mint(kube, run.path('kube', 'kubeconfigs'), m),
      stop: async () => {
        await api.proc.stop();
        await etcd.proc.stop();
      },
    };
    return kube;
  } catch (err) {
    for (const p of started.reverse()) await p.stop();
    throw err;
  }
}
