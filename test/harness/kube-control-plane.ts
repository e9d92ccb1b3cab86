import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { writeKubeconfig, type KubePki } from './kube-files.js';
import { awaitTool, httpsGet, retryOnEarlyExit, waitUntilReady } from './kube-process.js';
import { issueCert, type CertFiles } from './pki.js';
import { freePort } from './ports.js';
import type { Managed, Run } from './run.js';

/** What {@link startControlPlane} needs from the running apiserver. */
export interface ControlPlaneOptions {
  server: string;
  pki: KubePki;
  adminKubeconfigPath: string;
  /** How long to wait for binaries that setup is still building. @default 1800000 */
  toolWaitMs?: number;
  /** How long each component may take to become healthy. @default 60000 */
  timeoutMs?: number;
}

interface Component {
  name: 'kube-controller-manager' | 'kube-scheduler';
  extraArgs: (pki: KubePki) => string[];
}

const CONTROLLER_MANAGER: Component = {
  name: 'kube-controller-manager',
  extraArgs: (pki) => [
    // One credential per controller, as in a production cluster: RBAC denials show which controller it was.
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.saSigner.key}`,
    // Published as the kube-root-ca.crt ConfigMap that every projected ServiceAccount token volume carries.
    `--root-ca-file=${pki.servingCA.cert}`,
    `--cluster-signing-cert-file=${pki.clientCA.cert}`,
    `--cluster-signing-key-file=${pki.clientCA.key}`,
    // No node IPAM: each node's CNI config carries its own pod range.
    '--controllers=*,-node-ipam-controller',
    // Finished pods go away soon, so a test cluster does not fill with them.
    '--terminated-pod-gc-threshold=50',
  ],
};

const SCHEDULER: Component = { name: 'kube-scheduler', extraArgs: () => [] };

function kubeconfigFor(run: Run, server: string, pki: KubePki, c: Component, client: CertFiles): string {
  return writeKubeconfig({
    file: path.join(run.path('kube', 'kubeconfigs'), `${c.name}.kubeconfig`),
    server,
    caFile: pki.servingCA.cert,
    userName: c.name,
    user: { clientCert: client },
  });
}

async function startComponent(
  run: Run,
  o: ControlPlaneOptions,
  c: Component,
  client: CertFiles,
): Promise<Managed> {
  const binary = await awaitTool(c.name, o.toolWaitMs ?? 1_800_000);
  const kubeconfig = kubeconfigFor(run, o.server, o.pki, c, client);
  // Its own serving certificate from the sandbox's serving CA, so the health probe verifies it like any client.
  const serving = issueCert(o.pki.servingCA, {
    name: `${c.name}-serving`,
    commonName: c.name,
    sans: ['127.0.0.1', 'localhost'],
    usage: 'server',
  });
  const ca = readFileSync(o.pki.servingCA.cert, 'utf8');
  return retryOnEarlyExit(3, async (attempt) => {
    const port = await freePort();
    const proc = run.spawn({
      name: attempt === 1 ? c.name : `${c.name}-${attempt}`,
      cmd: binary,
      args: [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        `--tls-cert-file=${serving.cert}`,
        `--tls-private-key-file=${serving.key}`,
        '--profiling=false',
        '--v=1',
        ...c.extraArgs(o.pki),
      ],
    });
    await waitUntilReady(
      proc,
      `${c.name} /healthz on 127.0.0.1:${port}`,
      async () => (await httpsGet(`https://127.0.0.1:${port}/healthz`, { ca })).status === 200,
      o.timeoutMs ?? 60_000,
    );
    return proc;
  });
}

/**
 * Starts kube-controller-manager and kube-scheduler against a running sandbox apiserver, each with its own client
 * certificate (the `system:kube-controller-manager` / `system:kube-scheduler` users the apiserver's bootstrap RBAC
 * knows), and resolves once both are healthy and the ServiceAccount controller has made `default/default`.
 */
export async function startControlPlane(run: Run, o: ControlPlaneOptions): Promise<Managed[]> {
  const procs: Managed[] = [];
  try {
    procs.push(await startComponent(run, o, CONTROLLER_MANAGER, o.pki.controllerManager));
    procs.push(await startComponent(run, o, SCHEDULER, o.pki.scheduler));
    const kc = new KubeConfig();
    kc.loadFromFile(o.adminKubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await waitUntilReady(
      procs[0] as Managed,
      'the default ServiceAccount (made by kube-controller-manager)',
      async () =>
        core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(
          () => true,
          () => false,
        ),
      o.timeoutMs ?? 60_000,
    );
    return procs;
  } catch (err) {
    for (const p of procs.reverse()) await p.stop();
    throw err;
  }
}
