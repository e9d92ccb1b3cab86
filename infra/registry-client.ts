/**
 * Tag resolution through the OCI distribution (registry v2) API, for `--registry-resolve`: a HEAD of the
 * manifest answers the digest in `Docker-Content-Digest`. Anonymous pulls only, with the bearer-token dance a
 * 401 asks for (Docker Hub, GHCR, Quay): tote resolves public tags; private registries need the agents' records.
 * Every request has a timeout (`--registry-resolve-timeout`); HTTPS is always verified, against the public roots
 * plus the CAs of `--registry-resolve-ca` when given.
 */
import { canonicalName, parseImageReference } from '../common/image-ref.js';
import { fetchTrusting } from './https-fetch.js';

/** Every manifest type a resolution must accept, or the registry may convert the manifest (and its digest). */
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Options of {@link createRegistryResolver}. */
export interface RegistryResolverOptions {
  /** Plain HTTP (`--registry-resolve-insecure`). @default false */
  insecure?: boolean;
  /** Per-request timeout (`--registry-resolve-timeout`). @default 5000 */
  timeoutMs?: number;
  /** PEM CA certificates trusted besides the public roots (`--registry-resolve-ca`). */
  ca?: readonly string[];
  /** @default globalThis.fetch, or {@link fetchTrusting} with `ca` */
  fetch?: typeof fetch;
}

/** A registry (or its token endpoint) that did not answer within the timeout. */
export class RegistryTimeoutError extends Error {
  override name = 'RegistryTimeoutError';
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters. */
export function parseChallenge(header: string | null): Record<string, string> | undefined {
  if (!header || !/^bearer\s/i.test(header)) return undefined;
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/** Docker Hub's API host differs from the name in references. */
function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

/** Builds the `RegistryPort` of the activities. */
export function createRegistryResolver(opts: RegistryResolverOptions = {}): {
  resolveTag(ref: string, o?: { signal?: AbortSignal }): Promise<string | null>;
} {
  const doFetch = opts.fetch ?? (opts.ca?.length ? fetchTrusting({ ca: opts.ca }) : globalThis.fetch);
  const scheme = opts.insecure ? 'http' : 'https';
  const timeoutMs = opts.timeoutMs ?? 5000;

  /** Runs one request (and the read of its body) under the timeout; the caller's abort is not a timeout. */
  async function timed<T>(
    origin: string,
    caller: AbortSignal | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      return await fn(caller ? AbortSignal.any([caller, timeout]) : timeout);
    } catch (err) {
      if (!timeout.aborted || caller?.aborted) throw err;
      throw new RegistryTimeoutError(`${origin}: no answer within ${timeoutMs} ms`, { cause: err });
    }
  }

  function token(challenge: Record<string, string>, caller?: AbortSignal): Promise<string> {
    const url = new URL(challenge.realm ?? '');
    if (challenge.service) url.searchParams.set('service', challenge.service);
    if (challenge.scope) url.searchParams.set('scope', challenge.scope);
    return timed(`token endpoint ${url.origin}`, caller, async (signal) => {
      const res = await doFetch(url, { signal });
      if (!res.ok) throw new Error(`token endpoint ${url.origin} answered ${res.status}`);
      const body = (await res.json()) as { token?: string; access_token?: string };
      return body.token ?? body.access_token ?? '';
    });
  }

  return {
    async resolveTag(ref: string, o: { signal?: AbortSignal } = {}): Promise<string | null> {
      const parsed = parseImageReference(ref);
      if (!parsed.ok) throw new Error(`cannot resolve "${ref}": ${parsed.error.reason}`);
      const { registry, repository, tag, digest } = parsed.ref;
      if (digest) return digest;
      const url = `${scheme}://${apiHost(registry)}/v2/${repository}/manifests/${tag ?? 'latest'}`;
      const head = (auth?: string): Promise<Response> =>
        timed(`registry ${new URL(url).origin}`, o.signal, (signal) =>
          doFetch(url, {
            method: 'HEAD',
            headers: { accept: ACCEPT, ...(auth ? { authorization: auth } : {}) },
            signal,
          }),
        );
      let res = await head();
      const challenge = res.status === 401 ? parseChallenge(res.headers.get('www-authenticate')) : undefined;
      if (challenge) res = await head(`Bearer ${await token(challenge, o.signal)}`);
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`${canonicalName(parsed.ref)}: registry answered ${res.status}`);
      return res.headers.get('docker-content-digest');
    },
  };
}
