/**
 * Where and how to reach the API server: read from a kubeconfig document or from the in-cluster service account.
 * Covers what tote's processes meet in practice (bearer tokens, token files, client certificates, CA files or
 * data, `insecure-skip-tls-verify`, `tls-server-name`); users with an `exec` plugin or `auth-provider` are handed
 * to @kubernetes/client-node, loaded only then.
 */
import { readFileSync } from 'node:fs';
import type https from 'node:https';
import path from 'node:path';

/** TLS options for the https agent. */
export type KubeTls = Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;

/** A resolved API server endpoint with its credentials. */
export interface KubeTarget {
  /** e.g. `https://10.0.0.1:443`. */
  server: string;
  tls: KubeTls;
  /** Authentication headers for one request (tokens are re-read as they rotate). */
  headers(): Promise<Record<string, string>>;
}

/** Where a pod's service account credentials are mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

// Bound service account tokens rotate (kubelet refreshes them at 80% of their life): re-read now and then.
const TOKEN_REREAD_MS = 60_000;

function tokenFromFile(file: string): () => Promise<Record<string, string>> {
  let cached = { at: 0, token: '' };
  return async () => {
    if (Date.now() - cached.at > TOKEN_REREAD_MS)
      cached = { at: Date.now(), token: readFileSync(file, 'utf8').trim() };
    return { authorization: `Bearer ${cached.token}` };
  };
}

/** The in-cluster target: `KUBERNETES_SERVICE_HOST/PORT`, the mounted CA and token. */
export function inClusterTarget(
  env: Record<string, string | undefined>,
  dir = SERVICE_ACCOUNT_DIR,
): KubeTarget {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) {
    throw new Error(
      'no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not running in a cluster (KUBERNETES_SERVICE_HOST unset); pass --kubeconfig',
    );
  }
  const h = host.includes(':') ? `[${host}]` : host;
  return {
    server: `https://${h}:${port}`,
    tls: { ca: readFileSync(path.join(dir, 'ca.crt')) },
    headers: tokenFromFile(path.join(dir, 'token')),
  };
}

type Named<T> = { name: string } & T;
interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: Named<{ context?: { cluster?: string; user?: string } }>[];
  clusters?: Named<{ cluster?: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
}

function pick<T extends { name: string }>(list: T[] | undefined, name: string | undefined, what: string): T {
  const hit = list?.find((x) => x.name === name);
  if (!hit) throw new Error(`kubeconfig: ${what} "${name ?? ''}" not found`);
  return hit;
}

/** A PEM from `<key>-data` (base64) or the file `<key>` (relative to the kubeconfig). */
function material(o: Record<string, unknown>, key: string, dir: string): Buffer | undefined {
  const data = o[`${key}-data`];
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
  const file = o[key];
  if (typeof file === 'string' && file) return readFileSync(path.resolve(dir, file));
  return undefined;
}

function staticHeaders(user: Record<string, unknown>, dir: string): () => Promise<Record<string, string>> {
  if (typeof user.token === 'string' && user.token) {
    const h = { authorization: `Bearer ${user.token}` };
    return async () => h;
  }
  if (typeof user.tokenFile === 'string' && user.tokenFile)
    return tokenFromFile(path.resolve(dir, user.tokenFile));
  if (typeof user.username === 'string' && typeof user.password === 'string') {
    const h = {
      authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`,
    };
    return async () => h;
  }
  return async () => ({});
}

/** Users that need code to log in (cloud CLIs, OIDC refresh): delegated to client-node's authenticators. */
async function delegatedTarget(file: string): Promise<KubeTarget> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  const first: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(first);
  return {
    server: kc.getCurrentCluster()?.server ?? '',
    tls: { ca: first.ca, cert: first.cert, key: first.key, rejectUnauthorized: first.rejectUnauthorized },
    headers: async () => {
      const o: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(o);
      return Object.fromEntries(Object.entries(o.headers ?? {}).map(([k, v]) => [k, String(v)]));
    },
  };
}

/** The target of the kubeconfig's current context. `file` resolves relative paths (and the delegated case). */
export async function targetFromKubeconfig(raw: unknown, file: string): Promise<KubeTarget> {
  const doc = (raw ?? {}) as KubeconfigDoc;
  const dir = path.dirname(file);
  const ctx = pick(doc.contexts, doc['current-context'], 'context').context ?? {};
  const cluster = pick(doc.clusters, ctx.cluster, 'cluster').cluster ?? {};
  const user = pick(doc.users, ctx.user, 'user').user ?? {};
  if (user.exec || user['auth-provider']) return delegatedTarget(file);
  if (typeof cluster.server !== 'string') throw new Error(`kubeconfig ${file}: cluster has no server`);
  return {
    server: cluster.server,
    tls: {
      ca: material(cluster, 'certificate-authority', dir),
      cert: material(user, 'client-certificate', dir),
      key: material(user, 'client-key', dir),
      rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
      ...(typeof cluster['tls-server-name'] === 'string' ? { servername: cluster['tls-server-name'] } : {}),
    },
    headers: staticHeaders(user, dir),
  };
}
