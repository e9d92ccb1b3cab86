/**
 * The content and image store the agent works on: what the agent needs from containerd, and nothing more
 * (spegel's `store.Provider` idea: the interface belongs to its user). agent/containerd-store.ts implements it
 * over containerd's gRPC API; agent/fake-store.ts in memory. Both pass test/agent-contract/store-contract.ts.
 */

/** One blob: media type, digest, size (bytes). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** A committed blob as the store knows it. */
export interface BlobInfo {
  digest: string;
  size: number;
  labels: Record<string, string>;
}

/** A named image record (containerd `Image`): a name pointing at a root descriptor. */
export interface ImageRecord {
  name: string;
  target: Descriptor;
  labels: Record<string, string>;
}

/** Options of {@link Store.openWrite}. */
export interface WriteOptions {
  /** Stable ingest reference: a later write with the same ref resumes where this one stopped. */
  ref: string;
  /** Expected digest; the store refuses to commit bytes that do not hash to it. */
  digest: string;
  size: number;
  /** Lease that protects the ingest and the committed blob from garbage collection. */
  lease?: string;
}

/** An open ingest. Writes are sequential; `offset` is where the next byte goes. */
export interface Ingest {
  /** Bytes already in the ingest (non-zero when a previous write is resumed). */
  readonly offset: number;
  /** Appends `data` at {@link offset}. Resolves when the store may take more (backpressure). */
  write(data: Uint8Array): Promise<void>;
  /** Verifies size and digest and commits with `labels`; `exists` when the blob appeared meanwhile. */
  commit(labels: Record<string, string>): Promise<'committed' | 'exists'>;
  /** Stops writing but keeps the bytes so a later {@link Store.openWrite} resumes. */
  close(): Promise<void>;
  /** Stops writing and discards the bytes (after a verification failure). */
  abort(): Promise<void>;
}

/** Why a store call failed, independent of the backend. */
export type StoreErrorKind =
  | 'not-found'
  | 'exists'
  | 'invalid'
  | 'precondition'
  | 'unavailable'
  | 'out-of-range'
  | 'data-loss'
  | 'internal';

/** A failed store call. `precondition` on commit means the bytes did not verify. */
export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** Options of {@link Store.read}. */
export interface ReadOptions {
  offset?: number;
  signal?: AbortSignal;
}

/** The content store, image records and leases of one containerd namespace. */
export interface Store {
  /** Every image record. */
  listImages(): Promise<ImageRecord[]>;
  /** The record called `name`, or undefined. */
  getImage(name: string): Promise<ImageRecord | undefined>;
  /** Creates the record or replaces its target and labels (CRI's upsert). */
  putImage(record: ImageRecord, lease?: string): Promise<void>;
  /** Deletes the record; false when there was none. Blobs are left to the store's GC. */
  deleteImage(name: string): Promise<boolean>;
  /** The committed blob with this digest, or undefined. */
  info(digest: string): Promise<BlobInfo | undefined>;
  /** Streams a committed blob from `offset`, in chunks of the store's choosing, with backpressure. */
  read(digest: string, opts?: ReadOptions): AsyncIterable<Uint8Array>;
  /** Opens (or resumes) an ingest; `exists` when the blob is already committed (and now leased). */
  openWrite(opts: WriteOptions): Promise<Ingest | 'exists'>;
  /** Merges `labels` into a committed blob's labels. */
  setLabels(digest: string, labels: Record<string, string>, lease?: string): Promise<void>;
  /** Creates lease `id` (or keeps it if it exists) that expires after `ttlMs`. */
  createLease(id: string, ttlMs: number): Promise<void>;
  /** Deletes a lease; what it protected is left to references and GC. */
  deleteLease(id: string): Promise<void>;
  /** The image id (`sha256:<config>`) the CRI image service reports for `ref`, or undefined. */
  criImageId(ref: string): Promise<string | undefined>;
}
