import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { createCA, issueCert, type CA, type CertFiles } from './pki.js';

/** Every certificate and key a sandbox kube-apiserver needs, generated in one directory. */
export interface KubePki {
  /** CA that signed the serving certificate: what clients must trust. */
  servingCA: CA;
  /** Serving certificate for 127.0.0.1 and localhost. */
  serving: CertFiles;
  /** CA the apiserver trusts for client certificates (`--client-ca-file`). */
  clientCA: CA;
  /** Client certificate of the admin user, group system:masters (bypasses RBAC). */
  admin: CertFiles;
  /** Service-account token signer: `cert` is the public key file, `key` the signing key. */
  saSigner: CA;
  /** The apiserver's client certificate towards kubelets (logs, exec), group system:masters. */
  kubeletClient: CertFiles;
  /** Client certificates of kube-controller-manager and kube-scheduler (their RBAC users). */
  controllerManager: CertFiles;
  scheduler: CertFiles;
}

/**
 * Generates the three independent authorities envtest uses (serving, client auth, service-account signing), the
 * admin client certificate and the control plane's own client certificates. The serving CA also signs each
 * kubelet's serving certificate (see kubelet.ts), so the apiserver verifies kubelets with it. Separate CAs keep a leaked client CA from being able to impersonate the server.
 */
export function createKubePki(dir: string): KubePki {
  const servingCA = createCA(dir, 'serving-ca');
  const serving = issueCert(servingCA, {
    name: 'apiserver',
    commonName: 'localhost',
    sans: ['localhost', '127.0.0.1'],
    usage: 'server',
  });
  const clientCA = createCA(dir, 'client-ca');
  const admin = issueCert(clientCA, {
    name: 'admin',
    commonName: 'tote-admin',
    organizations: ['system:masters'],
    usage: 'client',
  });
  const saSigner = createCA(dir, 'sa-signer');
  const kubeletClient = issueCert(clientCA, {
    name: 'apiserver-kubelet-client',
    commonName: 'kube-apiserver-kubelet-client',
    organizations: ['system:masters'],
    usage: 'client',
  });
  const controllerManager = issueCert(clientCA, {
    name: 'kube-controller-manager',
    commonName: 'system:kube-controller-manager',
    usage: 'client',
  });
  const scheduler = issueCert(clientCA, {
    name: 'kube-scheduler',
    commonName: 'system:kube-scheduler',
    usage: 'client',
  });
  return { servingCA, serving, clientCA, admin, saSigner, kubeletClient, controllerManager, scheduler };
}

/** How a kubeconfig user authenticates: a client certificate or a bearer token. */
export type KubeUser = { clientCert: CertFiles } | { token: string };

/** What goes into a single-context kubeconfig file. */
export interface KubeconfigSpec {
  file: string;
  server: string;
  caFile: string;
  userName: string;
  user: KubeUser;
  /** Default namespace of the context. @default "default" */
  namespace?: string;
}

/** Writes a kubeconfig with one cluster, one user and one current context; returns its path. */
export function writeKubeconfig(spec: KubeconfigSpec): string {
  const user =
    'token' in spec.user
      ? { token: spec.user.token }
      : { 'client-certificate': spec.user.clientCert.cert, 'client-key': spec.user.clientCert.key };
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sandbox', cluster: { server: spec.server, 'certificate-authority': spec.caFile } }],
    users: [{ name: spec.userName, user }],
    contexts: [
      {
        name: spec.userName,
        context: { cluster: 'sandbox', user: spec.userName, namespace: spec.namespace ?? 'default' },
      },
    ],
    'current-context': spec.userName,
  };
  writeFileSync(spec.file, stringify(doc), { mode: 0o600 });
  return path.resolve(spec.file);
}
