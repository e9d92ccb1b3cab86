import { status } from '@grpc/grpc-js';
import { AgentError, toAgentError } from './errors.js';
import type { SourceLink } from './plan.js';
import { StoreError, type Descriptor, type Ingest, type Store } from './store.js';

/** Options of {@link copyBlob}. */
export interface CopyOptions {
  store: Store;
  desc: Descriptor;
  lease: string;
  /** GC labels committed with the blob. */
  labels: Record<string, string>;
  /** Sources to try, in order; each failure moves on to the next, from the bytes already written. */
  sources: readonly SourceLink[];
  token: string;
  node: string;
  signal?: AbortSignal;
  /** Called with the size of every chunk received. */
  onBytes?: (n: number) => void;
  /** Called when a source fails, so the caller stops giving it other blobs. */
  onSourceFailed?: (node: string, err: AgentError) => void;
}

/** How one blob got into the store. */
export interface CopyResult {
  skipped: boolean;
  received: number;
  source?: string;
}

/** The stable ingest ref of a blob: a restarted import finds containerd's partial write under the same name. */
export function ingestRef(digest: string): string {
  return `tote-${digest.replace(':', '-')}`;
}

/** A source stream failure, as opposed to a failure of the local store. */
class SourceFailure extends Error {
  constructor(readonly error: AgentError) {
    super(error.message);
  }
}

/** Opens the ingest, waiting while another import holds the same ref (containerd says UNAVAILABLE). */
export async function openIngest(store: Store, desc: Descriptor, lease: string): Promise<Ingest | 'exists'> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await store.openWrite({
        ref: ingestRef(desc.digest),
        digest: desc.digest,
        size: desc.size,
        lease,
      });
    } catch (err) {
      if (!(err instanceof StoreError && err.kind === 'unavailable') || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
    }
  }
}

async function pump(opts: CopyOptions, link: SourceLink, ingest: Ingest): Promise<number> {
  const { desc } = opts;
  let received = 0;
  const req = { token: opts.token, digest: desc.digest, offset: String(ingest.offset), node: opts.node };
  const it = link.peer.readBlob(req, opts.signal)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<{ offset: string; data: Buffer }>;
    try {
      next = await it.next();
    } catch (err) {
      throw new SourceFailure(toAgentError(err));
    }
    if (next.done) return received;
    const { data, offset } = next.value;
    // A source that skips, repeats or overruns bytes is as bad as one that alters them.
    if (Number(offset) !== ingest.offset || ingest.offset + data.length > desc.size) {
      await it.return?.();
      throw new SourceFailure(
        new AgentError(status.DATA_LOSS, `${link.node} sent bytes outside ${desc.digest}`),
      );
    }
    await ingest.write(data);
    received += data.length;
    opts.onBytes?.(data.length);
  }
}

/**
 * Classifies a failed attempt: the store's own failures and cancellation end the copy (rethrown); a source
 * failure is returned so the next source takes over; bytes that failed verification are discarded first.
 */
async function sourceFailed(
  opts: CopyOptions,
  link: SourceLink,
  ingest: Ingest,
  err: unknown,
): Promise<AgentError> {
  const verification = err instanceof StoreError && err.kind === 'precondition';
  if (opts.signal?.aborted || !(err instanceof SourceFailure || verification)) {
    await ingest.close().catch(() => undefined);
    throw opts.signal?.aborted ? new AgentError(status.CANCELLED, 'import cancelled') : toAgentError(err);
  }
  const failure = verification
    ? new AgentError(status.DATA_LOSS, `${opts.desc.digest} from ${link.node} failed digest verification`)
    : (err as SourceFailure).error;
  if (failure.code === status.DATA_LOSS) await ingest.abort();
  return failure;
}

/**
 * Copies one blob from the first source that can serve it into the store, under the lease, with the expected
 * digest so the store verifies it at commit. A blob already committed is skipped (labels still applied); a
 * partial ingest resumes from its offset; bytes that fail verification are discarded and never committed.
 */
export async function copyBlob(opts: CopyOptions): Promise<CopyResult> {
  const { store, desc, labels, lease } = opts;
  let ingest: Ingest | 'exists' | undefined = await openIngest(store, desc, lease);
  let received = 0;
  let last = new AgentError(status.FAILED_PRECONDITION, `no source holds ${desc.digest}`);
  for (const link of opts.sources.filter((l) => l.blobs.has(desc.digest))) {
    ingest ??= await openIngest(store, desc, lease);
    if (ingest === 'exists') break;
    try {
      if (ingest.offset < desc.size) received += await pump(opts, link, ingest);
      if ((await ingest.commit(labels)) === 'exists') await store.setLabels(desc.digest, labels, lease);
      return { skipped: false, received, source: link.node };
    } catch (err) {
      last = await sourceFailed(opts, link, ingest, err);
      opts.onSourceFailed?.(link.node, last);
      // Bytes that did not verify were discarded: the next source starts over from a fresh ingest.
      if (last.code === status.DATA_LOSS) ingest = undefined;
    }
  }
  if (ingest === 'exists') {
    if (Object.keys(labels).length) await store.setLabels(desc.digest, labels, lease);
    return { skipped: received === 0, received };
  }
  await ingest?.close(); // keep the verified-so-far bytes for a resumed import
  throw last;
}

/** Writes a small blob held in memory (a verified manifest or index) with its GC labels. */
export async function writeBytes(
  store: Store,
  desc: Descriptor,
  bytes: Buffer,
  opts: { labels: Record<string, string>; lease: string },
): Promise<boolean> {
  let ingest = await openIngest(store, desc, opts.lease);
  if (ingest !== 'exists' && ingest.offset > 0) {
    // A leftover of an earlier attempt: small enough to rewrite rather than trust.
    await ingest.abort();
    ingest = await openIngest(store, desc, opts.lease);
  }
  if (ingest !== 'exists') {
    try {
      await ingest.write(bytes);
      if ((await ingest.commit(opts.labels)) === 'committed') return true;
    } catch (err) {
      await ingest.abort().catch(() => undefined);
      throw toAgentError(err);
    }
  }
  await store.setLabels(desc.digest, opts.labels, opts.lease);
  return false;
}
