import { status } from '@grpc/grpc-js';
import type {
  PrepareExportRequest,
  PrepareExportResponse,
  ReadBlobRequest,
} from '../proto/gen/tote/v1/agent.js';
import { encodedChunks, type BlobChunk } from './blob-chunks.js';
import { AgentError, requireDigest, requireOffset } from './errors.js';
import { throttled, type Throttle } from './rate.js';
import type { SessionRegistry } from './sessions.js';
import type { Store } from './store.js';
import { readSmallBlob, totalSize, walkImage } from './walk.js';

/** What the export side needs. */
export interface ExportDeps {
  store: Store;
  sessions: SessionRegistry<PrepareExportResponse>;
  node: string;
  /** Largest chunk sent on a ReadBlob stream. */
  chunkSize: number;
  /** Sessions streaming at once; more is RESOURCE_EXHAUSTED. */
  maxConcurrentExports: number;
  /** The node's upload budget, shared by every ReadBlob stream (--max-upload-rate); none: unlimited. */
  uploadLimiter?: Throttle;
}

/**
 * PrepareExport: checks the image is here and complete (every blob of the platforms held: a node that discards
 * unpacked layers is not a source), registers the session and describes the image. Idempotent per token.
 */
export async function prepareExport(
  deps: ExportDeps,
  req: PrepareExportRequest,
): Promise<PrepareExportResponse> {
  const spec = deps.sessions.normalize(req.session, req.digest);
  const existing = deps.sessions.existing(spec);
  if (existing) return existing.description;
  const records = (await deps.store.listImages()).filter((r) => r.target.digest === req.digest);
  const root = records[0]?.target;
  if (!root) throw new AgentError(status.NOT_FOUND, `no image ${req.digest} on node ${deps.node}`);
  const graph = await walkImage(deps.store, root);
  if (graph.missing.length > 0) {
    throw new AgentError(
      status.FAILED_PRECONDITION,
      `image ${req.digest} is incomplete on node ${deps.node}: ${graph.missing.length} blob(s) missing (${graph.missing.slice(0, 3).join(', ')})`,
    );
  }
  const description: PrepareExportResponse = {
    mediaType: root.mediaType,
    manifest: await readSmallBlob(deps.store, root.digest),
    blobs: graph.blobs.map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: String(b.size) })),
    totalSize: String(totalSize(graph.blobs)),
    names: records.map((r) => r.name),
    expiresAtUnixMs: '0',
  };
  const session = deps.sessions.register(
    spec,
    new Map(graph.blobs.map((b) => [b.digest, b.size])),
    description,
  );
  description.expiresAtUnixMs = String(session.expiresAt);
  return description;
}

/** Counts sessions that are streaming, to cap concurrent exports per source. */
export class ExportSlots {
  private readonly active = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Sessions streaming now (HasImage reports it so workers prefer the least busy holder). */
  get streaming(): number {
    return this.active.size;
  }

  /** Takes a slot for `token` (streams of one session share it); RESOURCE_EXHAUSTED when full. */
  acquire(token: string): () => void {
    const n = this.active.get(token) ?? 0;
    if (this.max === 0) {
      throw new AgentError(
        status.RESOURCE_EXHAUSTED,
        'this node does not serve images to peers (--max-concurrent-exports 0)',
      );
    }
    if (n === 0 && this.active.size >= this.max) {
      throw new AgentError(
        status.RESOURCE_EXHAUSTED,
        `source busy: ${this.max} exports in progress (--max-concurrent-exports)`,
      );
    }
    this.active.set(token, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.active.get(token) ?? 1) - 1;
      if (left > 0) this.active.set(token, left);
      else this.active.delete(token);
    };
  }
}

/**
 * ReadBlob: after the session checks, streams the blob from `offset` in chunks of at most `chunkSize`, with
 * absolute offsets, already encoded around the bytes the store returned (never copied). The caller writes each
 * chunk with backpressure; `peer` is the caller's identity.
 */
export async function* readBlob(
  deps: ExportDeps & { slots: ExportSlots },
  req: ReadBlobRequest,
  peer: string,
  signal?: AbortSignal,
): AsyncGenerator<BlobChunk> {
  const digest = requireDigest('digest', req.digest);
  const offset = requireOffset('offset', req.offset);
  const session = deps.sessions.authorize(req.token, digest, peer);
  const size = session.blobs.get(digest) ?? 0;
  if (offset > size)
    throw new AgentError(status.OUT_OF_RANGE, `offset ${offset} is beyond ${digest} (${size} bytes)`);
  const release = deps.slots.acquire(req.token);
  try {
    const pieces = throttled(deps.store.read(digest, { offset, signal }), deps.uploadLimiter, signal);
    yield* encodedChunks(pieces, { digest, offset, size, chunkSize: deps.chunkSize });
  } finally {
    release();
  }
}
