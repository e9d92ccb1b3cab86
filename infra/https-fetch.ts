/**
 * A `fetch` over node:http(s) that trusts extra CAs besides the public roots, for registry HTTPS behind a private
 * CA (`--registry-resolve-ca`): Node's global fetch takes no CA option. Certificates are still verified (host
 * name and chain); only the set of trusted roots grows. It covers what the registry clients ask of fetch: a URL,
 * `method`, `headers` and `signal`, redirects followed (credentials dropped when the origin changes), and a
 * standard `Response` with the body buffered.
 */
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';

/** Redirects followed before giving up, as fetch's `redirect: 'follow'` does (fetch allows 20). */
const MAX_REDIRECTS = 5;

/** Statuses whose `Response` must have no body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

/** Options of {@link fetchTrusting}. */
export interface TrustingFetchOptions {
  /** PEM certificates trusted in addition to Node's bundled public roots. */
  ca: readonly string[];
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function exchange(
  url: URL,
  init: { method: string; headers: Record<string, string>; signal?: AbortSignal | null },
  ca: string[],
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    if (init.signal?.aborted) return reject(init.signal.reason as Error);
    const opts = { method: init.method, headers: init.headers, signal: init.signal ?? undefined };
    const req = url.protocol === 'https:' ? https.request(url, { ...opts, ca }) : http.request(url, opts);
    // An aborted request fails with a generic AbortError: reject with the signal's reason (a TimeoutError for
    // AbortSignal.timeout), as fetch does.
    const fail = (err: Error): void => reject(init.signal?.aborted ? (init.signal.reason as Error) : err);
    req.on('error', fail);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete)
          fail(new Error(`${url.origin}: the connection closed before the answer was complete`));
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
    });
    req.end();
  });
}

function toHeaders(h: http.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
  }
  return out;
}

/** The URL a redirect answer points at; undefined when the answer is no redirect (or redirects are not followed). */
function redirectTarget(res: Answer, from: URL, mode: RequestInit['redirect']): URL | undefined {
  const location = res.headers.location;
  if (![301, 302, 303, 307, 308].includes(res.status) || !location || mode === 'manual') return undefined;
  return new URL(location, from);
}

/** A `fetch` whose HTTPS connections trust `opts.ca` as well as the public roots. */
export function fetchTrusting(opts: TrustingFetchOptions): typeof fetch {
  const ca = [...rootCertificates, ...opts.ca];
  return async (input, init = {}) => {
    let url = new URL(input instanceof Request ? input.url : String(input));
    let method = (init.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    for (let hop = 0; ; hop++) {
      const res = await exchange(url, { method, headers, signal: init.signal }, ca);
      const next = redirectTarget(res, url, init.redirect);
      if (!next) {
        const empty = NULL_BODY.has(res.status) || method === 'HEAD';
        return new Response(empty ? null : res.body, { status: res.status, headers: toHeaders(res.headers) });
      }
      if (hop >= MAX_REDIRECTS) throw new TypeError(`${url.origin}: more than ${MAX_REDIRECTS} redirects`);
      if (next.origin !== url.origin) delete headers.authorization;
      if (res.status === 303 && method !== 'HEAD') method = 'GET';
      url = next;
    }
  };
}
