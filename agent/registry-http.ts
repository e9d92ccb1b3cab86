import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { once } from 'node:events';
import { status } from '@grpc/grpc-js';
import { AgentError } from './errors.js';

/** Credentials for a registry; they travel only in Authorization headers and are never logged. */
export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** A bearer token used as is. */
  token?: string;
}

/** A request body: bytes, or a factory of a stream (called again if the request must be re-sent after a 401). */
export type Body = Buffer | (() => AsyncIterable<Uint8Array>);

/** One HTTP request to the registry. */
export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  /** Path (`/v2/...`) or an absolute URL (a Location header). */
  url: string;
  headers?: Record<string, string>;
  body?: Body;
  contentLength?: number;
  /** Extra token scopes (a cross-repository mount also needs pull on the source). */
  scopes?: string[];
}

/** A registry's answer; small bodies only are kept (errors, manifests). */
export interface RegistryResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The absolute URL that was requested (to resolve a relative Location). */
  url: URL;
}

const MAX_RESPONSE = 4 << 20;

function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const scheme = header.split(' ')[0]?.toLowerCase() ?? '';
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) params[m[1] ?? ''] = m[2] ?? '';
  return { scheme, params };
}

/**
 * HTTP client for one registry and one repository, with the Docker token protocol: a 401 challenge is answered
 * with Basic credentials or a Bearer token from the realm, then the request is re-sent once. TLS is verified
 * unless `insecure` (plain HTTP) is asked for; `ca` (`--backup-registry-ca`) adds CAs to the public roots, for the
 * registry and its token server alike.
 */
export class RegistryHttp {
  private authorization: string | undefined;
  readonly base: URL;
  /** Aborts every request when the caller gives up: a registry that never answers must not hold the push. */
  signal?: AbortSignal;
  /** The trusted roots when extra CAs are given; undefined: Node's default store. */
  private readonly ca: string[] | undefined;

  constructor(
    host: string,
    private readonly repository: string,
    private readonly creds: RegistryCredentials,
    { insecure, ca }: { insecure: boolean; ca?: readonly string[] },
  ) {
    this.ca = ca?.length ? [...rootCertificates, ...ca] : undefined;
    this.base = new URL(
      `${insecure ? 'http' : 'https'}://${host === 'docker.io' ? 'registry-1.docker.io' : host}`,
    );
    if (creds.token) this.authorization = `Bearer ${creds.token}`;
  }

  /** Sends a request, answering an auth challenge once; UNAUTHENTICATED/PERMISSION_DENIED if still refused. */
  async send(req: RegistryRequest): Promise<RegistryResponse> {
    let res = await this.once(req);
    if (res.status === 401 && !this.creds.token) {
      await this.authenticate(String(res.headers['www-authenticate'] ?? ''), req.scopes ?? []);
      res = await this.once(req);
    }
    if (res.status === 401) {
      throw new AgentError(
        status.UNAUTHENTICATED,
        `registry ${this.base.host} refused the credentials (401): ${errorText(res)}`,
      );
    }
    if (res.status === 403)
      throw new AgentError(
        status.PERMISSION_DENIED,
        `registry ${this.base.host} denied access (403): ${errorText(res)}`,
      );
    return res;
  }

  private async authenticate(challenge: string, extraScopes: string[]): Promise<void> {
    const { scheme, params } = parseChallenge(challenge);
    const { username, password } = this.creds;
    const basic = username
      ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`
      : undefined;
    if (scheme === 'basic') {
      if (!basic)
        throw new AgentError(status.UNAUTHENTICATED, `registry ${this.base.host} requires credentials`);
      this.authorization = basic;
    } else if (scheme === 'bearer' && params.realm) {
      this.authorization = `Bearer ${await this.fetchToken(params, extraScopes, basic)}`;
    } else {
      throw new AgentError(
        status.UNAUTHENTICATED,
        `registry ${this.base.host}: unsupported auth challenge "${scheme}"`,
      );
    }
  }

  /** The token protocol's GET form: realm?service=…&scope=…, with Basic credentials when we have them. */
  private async fetchToken(
    params: Record<string, string>,
    extraScopes: string[],
    basic?: string,
  ): Promise<string> {
    const url = new URL(params.realm ?? '');
    if (params.service) url.searchParams.set('service', params.service);
    const scopes = new Set([params.scope ?? `repository:${this.repository}:pull,push`, ...extraScopes]);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = basic ? { authorization: basic } : {};
    const res = await request(url, { method: 'GET', headers, signal: this.signal, ca: this.ca });
    if (res.status !== 200) {
      throw new AgentError(
        status.UNAUTHENTICATED,
        `token server ${url.host} refused the credentials (${res.status})`,
      );
    }
    const json = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (!token) throw new AgentError(status.UNAUTHENTICATED, `token server ${url.host} returned no token`);
    return token;
  }

  private once(req: RegistryRequest): Promise<RegistryResponse> {
    const url = new URL(req.url, this.base);
    const headers: Record<string, string> = { ...req.headers };
    // Credentials go only to the registry itself, never to another host a Location points at.
    if (this.authorization && url.host === this.base.host) headers.authorization = this.authorization;
    if (req.contentLength !== undefined) headers['content-length'] = String(req.contentLength);
    return request(url, { method: req.method, headers, body: req.body, signal: this.signal, ca: this.ca });
  }
}

function errorText(res: RegistryResponse): string {
  try {
    const e = JSON.parse(res.body.toString('utf8')) as {
      errors?: Array<{ code?: string; message?: string }>;
    };
    return e.errors?.map((x) => `${x.code}: ${x.message}`).join('; ') || `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

/** The registry's error codes and messages, or the HTTP status. */
export const describeError = errorText;

// A streamed body is handed to the socket in batches of this many bytes: the store yields the blob in pieces of
// a few KiB, and one write (one syscall) per piece cost more CPU than the upload itself.
const WRITE_BATCH_BYTES = 1 << 20;

async function writeBody(req: http.ClientRequest, body: Body | undefined): Promise<void> {
  if (Buffer.isBuffer(body)) req.write(body);
  else if (body) {
    let batched = 0;
    for await (const chunk of body()) {
      if (batched === 0) req.cork();
      batched += chunk.length;
      const more = req.write(chunk);
      if (batched < WRITE_BATCH_BYTES && more) continue;
      req.uncork();
      batched = 0;
      if (!more) await once(req, 'drain');
    }
    if (batched > 0) req.uncork();
  }
  req.end();
}

/** One HTTP(S) exchange; streams the body with backpressure and keeps at most 4 MiB of the answer. */
async function request(
  url: URL,
  opts: { method: string; headers: Record<string, string>; body?: Body; signal?: AbortSignal; ca?: string[] },
): Promise<RegistryResponse> {
  const base = { method: opts.method, headers: opts.headers, signal: opts.signal };
  const req =
    url.protocol === 'https:'
      ? https.request(url, opts.ca ? { ...base, ca: opts.ca } : base)
      : http.request(url, base);
  const answered = once(req, 'response') as Promise<[http.IncomingMessage]>;
  answered.catch(() => undefined);
  try {
    await writeBody(req, opts.body);
    const [res] = await answered;
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of res as AsyncIterable<Buffer>) if ((n += c.length) <= MAX_RESPONSE) parts.push(c);
    return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), url };
  } catch (err) {
    req.destroy();
    if (err instanceof AgentError) throw err;
    throw new AgentError(status.UNAVAILABLE, `registry ${url.host}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
