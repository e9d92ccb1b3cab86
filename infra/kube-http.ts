/**
 * A small Kubernetes REST client for the controller: JSON GET/POST and line-streamed watches over node:https with
 * a keep-alive agent. Why not @kubernetes/client-node here: loading it costs ~60 MiB of resident memory (its
 * KubeConfig pulls in every generated model) and its typed lists deserialize every page into model objects, which
 * is most of the controller's budget with 10,000 pods. Kubeconfigs whose user needs an `exec` plugin or an
 * `auth-provider` (cloud logins) still work: then client-node is loaded on demand to apply that authentication.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseYaml } from 'yaml';
import { inClusterTarget, targetFromKubeconfig, type KubeTarget } from './kube-target.js';

/** A non-2xx answer; `code` is the HTTP status (410 = resourceVersion too old). */
export class KubeHttpError extends Error {
  override name = 'KubeHttpError';
  constructor(
    readonly code: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** Query parameters; undefined values are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** The REST calls the controller makes. */
export interface KubeHttp {
  /** The API server URL, for logs. */
  readonly server: string;
  /** GETs JSON; null on 404. */
  get<T>(path: string, query?: Query): Promise<T | null>;
  /** POSTs JSON and returns the created object. */
  post<T>(path: string, body: unknown): Promise<T>;
  /** Opens a watch (`watch=true` is added); `onEvent` per line, `onDone` once (null = the server ended it). */
  watch(
    path: string,
    query: Query,
    onEvent: (type: string, obj: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<{ abort(): void }>;
  /** Closes idle connections. */
  close(): void;
}

function url(server: string, p: string, query: Query = {}): URL {
  const u = new URL(server.replace(/\/+$/, '') + p);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
  return u;
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function failure(res: http.IncomingMessage, what: string): Promise<KubeHttpError> {
  const text = await readBody(res).catch(() => '');
  let status: { message?: string; reason?: string } = {};
  try {
    status = JSON.parse(text) as typeof status;
  } catch {
    // not a Status object
  }
  const code = res.statusCode ?? 0;
  return new KubeHttpError(
    code,
    `${what}: HTTP ${code} ${status.message ?? text.slice(0, 200)}`,
    status.reason,
  );
}

/** Builds a {@link KubeHttp} for one resolved {@link KubeTarget}. */
export function kubeHttp(target: KubeTarget): KubeHttp {
  const secure = target.server.startsWith('https:');
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 16, ...target.tls })
    : new http.Agent({ keepAlive: true, maxSockets: 16 });
  const request = async (method: string, u: URL, body?: string): Promise<http.IncomingMessage> => {
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json', ...(await target.headers()) };
    if (body !== undefined)
      Object.assign(headers, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(u, { method, agent, headers }, resolve);
      req.on('error', reject);
      req.end(body);
    });
  };
  return {
    server: target.server,
    async get<T>(p: string, query?: Query): Promise<T | null> {
      const res = await request('GET', url(target.server, p, query));
      if (res.statusCode === 404) return (res.resume(), null);
      if (res.statusCode !== 200) throw await failure(res, `GET ${p}`);
      return JSON.parse(await readBody(res)) as T;
    },
    async post<T>(p: string, body: unknown): Promise<T> {
      const res = await request('POST', url(target.server, p), JSON.stringify(body));
      if (!res.statusCode || res.statusCode >= 300) throw await failure(res, `POST ${p}`);
      return JSON.parse(await readBody(res)) as T;
    },
    async watch(p, query, onEvent, onDone) {
      const res = await request('GET', url(target.server, p, { ...query, watch: true }));
      if (res.statusCode !== 200) throw await failure(res, `watch ${p}`);
      let done = false;
      const finish = (err: unknown): void => {
        if (done) return;
        done = true;
        onDone(err);
      };
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      lines.on('line', (line) => {
        if (!line || done) return;
        let ev: { type: string; object: unknown };
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch (err) {
          finish(new Error(`watch ${p}: unparseable event`, { cause: err }));
          res.destroy();
          return;
        }
        onEvent(ev.type, ev.object);
      });
      res.on('error', finish);
      res.on('aborted', () => finish(new Error('watch aborted')));
      lines.on('close', () => finish(null));
      return { abort: () => res.destroy(new Error('watch aborted by the client')) };
    },
    close: () => agent.destroy(),
  };
}

/** Where {@link loadKubeHttp} looks for a kubeconfig when none is given (client-node's order). */
function defaultKubeconfig(env: Record<string, string | undefined>): string | undefined {
  const fromEnv = env.KUBECONFIG?.split(path.delimiter).find(Boolean);
  if (fromEnv) return fromEnv;
  const home = path.join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

/**
 * Resolves the cluster and credentials like kubectl: `file`, else `$KUBECONFIG` (first file), else
 * `~/.kube/config`, else the in-cluster service account.
 */
export async function loadKubeHttp(opts: {
  file?: string;
  env: Record<string, string | undefined>;
}): Promise<KubeHttp> {
  const file = opts.file ?? defaultKubeconfig(opts.env);
  if (!file) return kubeHttp(inClusterTarget(opts.env));
  const doc = parseYaml(readFileSync(file, 'utf8')) as unknown;
  return kubeHttp(await targetFromKubeconfig(doc, file));
}
