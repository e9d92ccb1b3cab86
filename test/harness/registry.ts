import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { stringify } from 'yaml';
import { createCA, issueCert } from './pki.js';
import { freePort, waitFor } from './ports.js';
import type { Run } from './run.js';
import { toolPath } from './tools.js';

/** Options of {@link startRegistry}. */
export interface RegistryOptions {
  /** Require HTTP basic auth (htpasswd, bcrypt) with these credentials. */
  auth?: { username: string; password: string };
  /** Serve HTTPS with a certificate for 127.0.0.1 issued by a fresh CA (see {@link Registry.caFile}). */
  tls?: boolean;
  /** Log and directory name. @default "registry" */
  name?: string;
  timeoutMs?: number;
}

/** A running docker-registry 2.8 (distribution) on 127.0.0.1. */
export interface Registry {
  /** `127.0.0.1:<port>`: the host part of image references. */
  host: string;
  /** `http(s)://127.0.0.1:<port>` */
  url: string;
  tls: boolean;
  /** PEM CA certificate that signed the server certificate (TLS only). */
  caFile?: string;
  /** Directory holding only `ca.crt`: the form skopeo's `--*-cert-dir` and containerd's hosts.d expect. */
  certDir?: string;
  username?: string;
  password?: string;
  /** Filesystem storage root. */
  storageDir: string;
  logPath: string;
  /** Milliseconds from spawn until `/v2/` answered. */
  startMs: number;
  stop(): Promise<void>;
}

/** Makes an htpasswd line with a bcrypt hash, the only hash docker-registry's htpasswd auth accepts. */
function htpasswdLine(username: string, password: string): string {
  return execFileSync(toolPath('htpasswd'), ['-nbB', username, password]).toString().trim();
}

/** Every manifest type a client resolving a tag must accept, or the registry may convert (section 6.5 of the facts). */
export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** A raw HTTP answer from the registry. */
export interface RegistryResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Options of {@link registryGet}. */
export interface RegistryGetOptions {
  /** `Authorization` header value (see {@link basicAuth}); defaults to the registry's own credentials. */
  authorization?: string | null;
  accept?: string;
}

/** `GET <registry url><urlPath>` with the registry's CA and (by default) its credentials. */
export async function registryGet(
  reg: Pick<Registry, 'url' | 'caFile' | 'username' | 'password'>,
  urlPath: string,
  opts: RegistryGetOptions = {},
): Promise<RegistryResponse> {
  const lib = reg.url.startsWith('https:') ? https : http;
  const own = reg.username ? basicAuth(reg.username, reg.password ?? '') : undefined;
  const authorization = opts.authorization === undefined ? own : (opts.authorization ?? undefined);
  const headers: Record<string, string> = {};
  if (authorization) headers.authorization = authorization;
  if (opts.accept) headers.accept = opts.accept;
  return new Promise((resolve, reject) => {
    const req = lib.get(
      `${reg.url}${urlPath}`,
      { ca: reg.caFile ? readFileSync(reg.caFile) : undefined, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

/** Status code of `GET /v2/` without credentials; a 401 counts as "up" for a registry that requires auth. */
async function v2Status(reg: Pick<Registry, 'url' | 'caFile'>): Promise<number> {
  return (await registryGet(reg, '/v2/', { authorization: null })).status;
}

/** The `Authorization` header value for HTTP basic auth. */
export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/**
 * Starts Debian's docker-registry 2.8 (`docker-registry serve <config.yml>`) on a free 127.0.0.1 port with
 * filesystem storage in the run directory, deletes enabled, and optional htpasswd auth and TLS.
 */
export async function startRegistry(run: Run, opts: RegistryOptions = {}): Promise<Registry> {
  const name = opts.name ?? 'registry';
  const dir = run.path(name);
  const port = await freePort();
  const tls = opts.tls ?? false;
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'info', accesslog: { disabled: false } },
    storage: { filesystem: { rootdirectory: run.path(name, 'storage') }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') },
  };
  const reg: Registry = {
    host: `127.0.0.1:${port}`,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    tls,
    storageDir: path.join(dir, 'storage'),
    logPath: path.join(run.logsDir, `${name}.log`),
    startMs: 0,
    stop: async () => undefined,
  };
  if (tls) {
    const ca = createCA(run.path(name, 'certs'), 'ca');
    const leaf = issueCert(ca, {
      name: 'server',
      commonName: '127.0.0.1',
      sans: ['127.0.0.1', 'localhost'],
      usage: 'server',
    });
    (config.http as Record<string, unknown>).tls = { certificate: leaf.cert, key: leaf.key };
    reg.caFile = ca.cert;
    reg.certDir = run.path(name, 'cert-dir');
    writeFileSync(path.join(reg.certDir, 'ca.crt'), readFileSync(ca.cert));
  }
  if (opts.auth) {
    const file = path.join(dir, 'htpasswd');
    writeFileSync(file, `${htpasswdLine(opts.auth.username, opts.auth.password)}\n`);
    config.auth = { htpasswd: { realm: 'tote-sandbox', path: file } };
    reg.username = opts.auth.username;
    reg.password = opts.auth.password;
  }
  const configPath = path.join(dir, 'config.yml');
  writeFileSync(configPath, stringify(config));
  const t0 = Date.now();
  const managed = run.spawn({ name, cmd: toolPath('docker-registry'), args: ['serve', configPath] });
  reg.stop = async () => managed.stop();
  let exit: number | string | undefined;
  void managed.exited.then((c) => (exit = c));
  const outcome = await waitFor(
    `registry ${reg.url}/v2/`,
    async () => {
      if (exit !== undefined) return `exited with ${exit}`;
      const status = await v2Status(reg);
      return status === 200 || status === 401 ? 'up' : false;
    },
    opts.timeoutMs ?? 30_000,
  ).catch((err: unknown) => String(err));
  if (outcome !== 'up') {
    await managed.stop();
    throw new Error(`registry ${name}: ${outcome}\n${readFileSync(reg.logPath, 'utf8').slice(-3000)}`);
  }
  reg.startMs = Date.now() - t0;
  return reg;
}
