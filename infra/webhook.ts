/**
 * Webhook delivery: a JSON POST with a timeout and, when a secret is set, an HMAC-SHA256 signature of the exact
 * body bytes in `X-Tote-Signature: sha256=<hex>` (the GitHub convention, so receivers can reuse their checks).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying the signature. */
export const SIGNATURE_HEADER = 'X-Tote-Signature';

/** A JSON POST request (the shape the notify activity's `HttpPort` takes). */
export interface JsonPost {
  url: string;
  body: unknown;
  secret?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** `sha256=<hex>` of the body under the secret. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Checks a received signature in constant time (for receivers and tests). */
export function verifySignature(secret: string, body: string, header: string | undefined): boolean {
  if (!header) return false;
  const want = Buffer.from(signBody(secret, body));
  const got = Buffer.from(header);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Options of {@link createWebhookPoster}. */
export interface WebhookPosterOptions {
  /** The fetch implementation. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Sent as User-Agent. @default "tote-worker" */
  userAgent?: string;
}

/** The innermost message of an error's cause chain: undici's own message is only "fetch failed". */
function rootCause(err: unknown): string {
  let e = err as { message?: unknown; cause?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return typeof e?.message === 'string' && e.message ? e.message : String(err);
}

/** A failed POST as an error that names the receiver and what went wrong (the original stays the cause). */
function postFailure(err: unknown, req: JsonPost, timedOut: boolean): Error {
  const host = URL.canParse(req.url) ? new URL(req.url).host : req.url;
  const why = timedOut ? `no answer within ${req.timeoutMs} ms` : rootCause(err);
  return new Error(`webhook receiver ${host}: ${why}`, { cause: err });
}

/** Builds the HTTP port of the notify activity. Redirects are not followed: a webhook URL must be exact. */
export function createWebhookPoster(opts: WebhookPosterOptions = {}): {
  postJson(req: JsonPost): Promise<{ status: number }>;
} {
  const doFetch = opts.fetch ?? globalThis.fetch;
  return {
    async postJson(req: JsonPost): Promise<{ status: number }> {
      const body = JSON.stringify(req.body);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': opts.userAgent ?? 'tote-worker',
      };
      if (req.secret) headers[SIGNATURE_HEADER] = signBody(req.secret, body);
      const timeout = AbortSignal.timeout(req.timeoutMs);
      const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
      const res = await doFetch(req.url, { method: 'POST', headers, body, signal, redirect: 'manual' }).catch(
        (err: unknown) => {
          // A cancelled activity keeps its abort error; anything else says which receiver failed and how.
          throw req.signal?.aborted ? err : postFailure(err, req, timeout.aborted);
        },
      );
      await res.arrayBuffer().catch(() => undefined); // drain, so the connection can be reused
      return { status: res.status };
    },
  };
}
