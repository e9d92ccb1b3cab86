import { createHash } from 'node:crypto';
import {
  StoreError,
  type BlobInfo,
  type ImageRecord,
  type Ingest,
  type ReadOptions,
  type Store,
  type WriteOptions,
} from './store.js';

interface FakeIngest {
  chunks: Buffer[];
  offset: number;
  locked: boolean;
  expected: string;
  size: number;
}

const READ_CHUNK = 256 * 1024;
const CRI_ID_LABEL = 'io.cri-containerd.image';

/**
 * In-memory {@link Store} with containerd's semantics where the agent relies on them: commits verify size and
 * digest, an ingest ref resumes, a ref is locked while written, labels merge. Used by unit tests and passes the
 * same contract suite as the containerd store.
 */
export class FakeStore implements Store {
  private readonly blobs = new Map<string, { data: Buffer; labels: Record<string, string> }>();
  private readonly ingests = new Map<string, FakeIngest>();
  private readonly images = new Map<string, ImageRecord>();
  private readonly leases = new Set<string>();

  /** Test helper: commits `data` directly (as if pulled earlier). Returns its digest. */
  seedBlob(data: Uint8Array, labels: Record<string, string> = {}): string {
    const digest = sha256(data);
    this.blobs.set(digest, { data: Buffer.from(data), labels: { ...labels } });
    return digest;
  }

  /** Test helper: removes a committed blob (as `discard_unpacked_layers` does). */
  dropBlob(digest: string): void {
    this.blobs.delete(digest);
  }

  /** Test helper: flips one byte of a committed blob (disk corruption: the store serves it unverified). */
  corruptBlob(digest: string): void {
    const b = this.blobs.get(digest);
    if (!b) throw new Error(`no blob ${digest}`);
    b.data = Buffer.from(b.data);
    b.data[b.data.length >> 1] = (b.data[b.data.length >> 1] ?? 0) ^ 0xff;
  }

  /** Test helper: refs of the ingests in progress. */
  ingestRefs(): string[] {
    return [...this.ingests.keys()];
  }

  /** Test helper: ids of the live leases. */
  leaseIds(): string[] {
    return [...this.leases];
  }

  async listImages(): Promise<ImageRecord[]> {
    return [...this.images.values()].map(cloneRecord);
  }

  async getImage(name: string): Promise<ImageRecord | undefined> {
    const r = this.images.get(name);
    return r && cloneRecord(r);
  }

  async putImage(record: ImageRecord, lease?: string): Promise<void> {
    this.checkLease(lease);
    if (!record.name) throw new StoreError('invalid', 'image name required');
    if (record.target.size <= 0 || !record.target.mediaType) throw new StoreError('invalid', 'bad target');
    this.images.set(record.name, cloneRecord(record));
  }

  async deleteImage(name: string): Promise<boolean> {
    return this.images.delete(name);
  }

  async info(digest: string): Promise<BlobInfo | undefined> {
    const b = this.blobs.get(digest);
    return b && { digest, size: b.data.length, labels: { ...b.labels } };
  }

  async *read(digest: string, opts: ReadOptions = {}): AsyncIterable<Uint8Array> {
    const b = this.blobs.get(digest);
    if (!b) throw new StoreError('not-found', `content ${digest} not found`);
    const offset = opts.offset ?? 0;
    if (offset > b.data.length) throw new StoreError('out-of-range', `offset ${offset} beyond ${digest}`);
    for (let at = offset; at < b.data.length; at += READ_CHUNK) {
      opts.signal?.throwIfAborted();
      yield b.data.subarray(at, Math.min(at + READ_CHUNK, b.data.length));
    }
  }

  async openWrite(opts: WriteOptions): Promise<Ingest | 'exists'> {
    this.checkLease(opts.lease);
    if (this.blobs.has(opts.digest)) return 'exists';
    let ing = this.ingests.get(opts.ref);
    if (ing?.locked) throw new StoreError('unavailable', `ref ${opts.ref} locked`);
    if (!ing) {
      ing = { chunks: [], offset: 0, locked: false, expected: opts.digest, size: opts.size };
      this.ingests.set(opts.ref, ing);
    }
    ing.locked = true;
    return this.ingestHandle(opts.ref, ing);
  }

  async setLabels(digest: string, labels: Record<string, string>, lease?: string): Promise<void> {
    this.checkLease(lease);
    const b = this.blobs.get(digest);
    if (!b) throw new StoreError('not-found', `content ${digest} not found`);
    Object.assign(b.labels, labels);
  }

  async createLease(id: string): Promise<void> {
    this.leases.add(id);
  }

  async deleteLease(id: string): Promise<void> {
    if (!this.leases.delete(id)) throw new StoreError('not-found', `lease ${id} not found`);
  }

  async criImageId(ref: string): Promise<string | undefined> {
    const rec = this.images.get(ref);
    if (!rec) return undefined;
    const id = [...this.images.values()].find(
      (r) => r.name.startsWith('sha256:') && r.target.digest === rec.target.digest && r.labels[CRI_ID_LABEL],
    );
    return id?.name;
  }

  private checkLease(lease: string | undefined): void {
    if (lease && !this.leases.has(lease)) throw new StoreError('not-found', `lease ${lease} does not exist`);
  }

  private ingestHandle(ref: string, ing: FakeIngest): Ingest {
    const done = (): void => {
      ing.locked = false;
    };
    return {
      get offset() {
        return ing.offset;
      },
      write: async (data) => {
        if (!ing.locked) throw new StoreError('invalid', `ingest ${ref} closed`);
        if (ing.offset + data.length > ing.size) {
          throw new StoreError('precondition', `write past the expected size ${ing.size} of ${ref}`);
        }
        ing.chunks.push(Buffer.from(data));
        ing.offset += data.length;
      },
      commit: async (labels) => {
        done();
        const data = Buffer.concat(ing.chunks);
        if (data.length !== ing.size || sha256(data) !== ing.expected) {
          throw new StoreError('precondition', `unexpected commit digest or size for ${ref}`);
        }
        this.ingests.delete(ref);
        if (this.blobs.has(ing.expected)) return 'exists';
        this.blobs.set(ing.expected, { data, labels: { ...labels } });
        return 'committed';
      },
      close: async () => done(),
      abort: async () => {
        done();
        this.ingests.delete(ref);
      },
    };
  }
}

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function cloneRecord(r: ImageRecord): ImageRecord {
  return { name: r.name, target: { ...r.target }, labels: { ...r.labels } };
}
