/**
 * Manifest HEADs on OCI registries (distribution spec, `HEAD /v2/<name>/manifests/<reference>`) for the last-copy
 * scan: structurally the `ManifestPort` of activities/deps.ts. Anonymous only: a registry that answers 401 gets
 * one try with an anonymous bearer token (what public repositories on Docker Hub, GHCR and Quay accept); after
 * that the answer is `unknown`, never `gone`, because tote cannot tell a missing image from a private one.
 */

/** Every manifest type a HEAD must accept, or the registry may answer 404 for a type it would not convert. */
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** What to HEAD. */
export interface ManifestHeadRequest {
  /** Registry host[:port] as in the image reference (`docker.io` is mapped to its API host). */
  registry: string;
  repository: string;
  /** A digest (or a tag). */
  reference: string;
  /** Plain HTTP instead of HTTPS. */
  insecure: boolean;
}

/** The answer: `present` (200), `gone` (404) or `unknown` with the reason. */
export interface ManifestHeadResult {
  copy: 'present' | 'gone' | 'unknown';
  digest?: string;
  detail?: string;
}

type Fetch = typeof fetch;

/** Docker Hub's API is not served on the name images use. */
function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

/** The parameters of a `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge. */
export function parseBearerChallenge(header: string | null): Record<string, string> | undefined {
  if (!header || !/^bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[m[1] as string] = m[2] as string;
  return params.realm ? params : undefined;
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return `unreachable: ${e.message ?? String(err)}${cause ? ` (${cause})` : ''}`;
}

/** Registry manifest HEADs over `fetch` (injectable for tests). */
export class RegistryHead {
  constructor(private readonly fetchFn: Fetch = fetch) {}

  /** HEADs the manifest; HTTP statuses and network errors become `unknown` with a reason, never exceptions. */
  async headManifest(
    req: ManifestHeadRequest,
    opts: { signal?: AbortSignal } = {},
  ): Promise<ManifestHeadResult> {
    const scheme = req.insecure ? 'http' : 'https';
    const url = `${scheme}://${apiHost(req.registry)}/v2/${req.repository}/manifests/${req.reference}`;
    try {
      let res = await this.head(url, opts.signal);
      if (res.status === 401) {
        const token = await this.anonymousToken(res.headers.get('www-authenticate'), opts.signal);
        if (token) res = await this.head(url, opts.signal, `Bearer ${token}`);
      }
      return this.answer(res);
    } catch (err) {
      // A timeout is an answer (`unknown`); a cancelled activity is not, and must stop here.
      const reason = opts.signal?.reason as { name?: string } | undefined;
      if (opts.signal?.aborted && reason?.name !== 'TimeoutError') throw err;
      return { copy: 'unknown', detail: describe(err) };
    }
  }

  private head(url: string, signal?: AbortSignal, authorization?: string): Promise<Response> {
    const headers: Record<string, string> = { accept: ACCEPT };
    if (authorization) headers.authorization = authorization;
    return this.fetchFn(url, { method: 'HEAD', headers, signal, redirect: 'follow' });
  }

  private answer(res: Response): ManifestHeadResult {
    const digest = res.headers.get('docker-content-digest') ?? undefined;
    if (res.status === 200) return { copy: 'present', ...(digest ? { digest } : {}) };
    if (res.status === 404) return { copy: 'gone' };
    if (res.status === 401 || res.status === 403) {
      return { copy: 'unknown', detail: `HTTP ${res.status}: the registry wants credentials` };
    }
    return { copy: 'unknown', detail: `HTTP ${res.status}` };
  }

  /** A token from the challenge's realm, asked anonymously; undefined when there is none to be had. */
  private async anonymousToken(challenge: string | null, signal?: AbortSignal): Promise<string | undefined> {
    const params = parseBearerChallenge(challenge);
    if (!params?.realm) return undefined;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    if (params.scope) url.searchParams.set('scope', params.scope);
    const res = await this.fetchFn(url, { signal });
    if (res.status !== 200) return undefined;
    const body = (await res.json()) as { token?: string; access_token?: string };
    return body.token ?? body.access_token;
  }
}
