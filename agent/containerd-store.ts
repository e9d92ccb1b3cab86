// MAINTENANCE: the only file that knows containerd's API (STYLE.md §6.5). Facts: ../shared/facts/containerd-oci.md.
import { once } from 'node:events';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type CallOptions,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  ContentService,
  WriteAction,
  type ContentClient,
  WriteContentRequest,
  type InfoResponse,
  type WriteContentResponse,
} from '../proto/gen/containerd/services/content/v1/content.js';
import {
  ImagesClient,
  type GetImageResponse,
  type Image,
  type ListImagesResponse,
} from '../proto/gen/containerd/services/images/v1/images.js';
import { LeasesClient } from '../proto/gen/containerd/services/leases/v1/leases.js';
import { ImageServiceClient, type ImageStatusResponse } from '../proto/gen/cri/runtime/v1/api.js';
import { decodeOffsetData, encodeVarintsAndBytes } from '../common/wire.js';
import {
  StoreError,
  type BlobInfo,
  type ImageRecord,
  type Ingest,
  type ReadOptions,
  type Store,
  type StoreErrorKind,
  type WriteOptions,
} from './store.js';

/** Options of {@link ContainerdStore}. */
export interface ContainerdStoreOptions {
  /** Path of containerd's gRPC socket. @default "/run/containerd/containerd.sock" */
  socket: string;
  /** containerd namespace; kubelet's images live in `k8s.io`. @default "k8s.io" */
  namespace: string;
  /** Deadline of unary calls, in ms. @default 30000 */
  callTimeoutMs?: number;
}

type Callback<T> = (err: ServiceError | null, res: T) => void;

const KIND_BY_CODE: Partial<Record<number, StoreErrorKind>> = {
  [status.NOT_FOUND]: 'not-found',
  [status.ALREADY_EXISTS]: 'exists',
  [status.INVALID_ARGUMENT]: 'invalid',
  [status.FAILED_PRECONDITION]: 'precondition',
  [status.UNAVAILABLE]: 'unavailable',
  [status.OUT_OF_RANGE]: 'out-of-range',
  [status.DATA_LOSS]: 'data-loss',
};
// Write requests in flight before waiting for containerd's answers: overlaps network and disk without
// letting an unbounded amount of data queue up (memory stays flat).
const MAX_INFLIGHT_WRITES = 4;

/** A Buffer view of `data` (no copy). */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}

// The content client with copy-light codecs for the two messages that carry blob bytes (common/wire.ts).
const FastContentClient = makeGenericClientConstructor(
  {
    ...ContentService,
    read: {
      ...ContentService.read,
      responseDeserialize: (b: Buffer) => {
        const { offset, data } = decodeOffsetData(b);
        return { offset: String(offset), data: asBuffer(data) };
      },
    },
    write: {
      ...ContentService.write,
      requestSerialize: (r: WriteContentRequest): Buffer =>
        r.data.length > 0 && !r.ref && !r.expected && Object.keys(r.labels).length === 0
          ? asBuffer(
              encodeVarintsAndBytes(
                [
                  [1, r.action],
                  [3, Number(r.total)],
                  [5, Number(r.offset)],
                ],
                6,
                r.data,
              ),
            )
          : ContentService.write.requestSerialize(r),
    },
  },
  'containerd.services.content.v1.Content',
) as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options?: object,
) => ContentClient;

function toStoreError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as Partial<ServiceError>;
  const kind = (e.code !== undefined && KIND_BY_CODE[e.code]) || 'internal';
  return new StoreError(kind, `containerd ${what}: ${e.details || e.message || String(err)}`, { cause: err });
}

/** {@link Store} over containerd's content, images and leases services (and the CRI image service). */
export class ContainerdStore implements Store {
  private readonly content: ContentClient;
  private readonly images: ImagesClient;
  private readonly leases: LeasesClient;
  private readonly cri: ImageServiceClient;

  constructor(private readonly opts: ContainerdStoreOptions) {
    const address = `unix://${opts.socket}`;
    // A large HTTP/2 window: grpc-js starts at 64 KiB per stream, which throttles blob reads to a crawl.
    const channel = {
      'grpc.max_receive_message_length': 16 << 20,
      'grpc-node.flow_control_window': 16 << 20,
    };
    this.content = new FastContentClient(address, credentials.createInsecure(), channel);
    this.images = new ImagesClient(address, credentials.createInsecure(), channel);
    this.leases = new LeasesClient(address, credentials.createInsecure(), channel);
    this.cri = new ImageServiceClient(address, credentials.createInsecure(), channel);
  }

  /** Closes the connections to containerd. */
  close(): void {
    for (const c of [this.content, this.images, this.leases, this.cri]) c.close();
  }

  async listImages(): Promise<ImageRecord[]> {
    const res = await this.unary<ListImagesResponse>('list images', (md, o, cb) =>
      this.images.list({ filters: [] }, md, o, cb),
    );
    return res.images.map(fromImage);
  }

  async getImage(name: string): Promise<ImageRecord | undefined> {
    const res = await this.maybe<GetImageResponse>('get image', (md, o, cb) =>
      this.images.get({ name }, md, o, cb),
    );
    return res?.image && fromImage(res.image);
  }

  async putImage(record: ImageRecord, lease?: string): Promise<void> {
    const image = {
      name: record.name,
      labels: record.labels,
      target: { ...record.target, size: String(record.target.size), annotations: {} },
    };
    try {
      await this.unary('create image', (md, o, cb) => this.images.create({ image }, md, o, cb), lease);
    } catch (err) {
      if ((err as StoreError).kind !== 'exists') throw err;
      // CRI's upsert: replace the target, merge our labels, keep everything else.
      const paths = ['target', ...Object.keys(record.labels).map((k) => `labels.${k}`)];
      await this.unary(
        'update image',
        (md, o, cb) => this.images.update({ image, updateMask: paths }, md, o, cb),
        lease,
      );
    }
  }

  async deleteImage(name: string): Promise<boolean> {
    const res = await this.maybe('delete image', (md, o, cb) =>
      this.images.delete({ name, sync: false }, md, o, cb),
    );
    return res !== undefined;
  }

  async info(digest: string): Promise<BlobInfo | undefined> {
    const res = await this.maybe<InfoResponse>('content info', (md, o, cb) =>
      this.content.info({ digest }, md, o, cb),
    );
    const i = res?.info;
    return i && { digest: i.digest, size: Number(i.size), labels: i.labels };
  }

  async *read(digest: string, opts: ReadOptions = {}): AsyncIterable<Uint8Array> {
    const req = { digest, offset: String(opts.offset ?? 0), size: '0' };
    const call = this.content.read(req, this.metadata());
    const onAbort = (): void => call.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const res of call) yield (res as { data: Buffer }).data;
    } catch (err) {
      throw toStoreError(err, `read ${digest}`);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  async openWrite(opts: WriteOptions): Promise<Ingest | 'exists'> {
    const call = this.content.write(this.metadata(opts.lease));
    const ingest = new ContainerdIngest(call, opts, this.content, this.metadata());
    return ingest.open();
  }

  async setLabels(digest: string, labels: Record<string, string>, lease?: string): Promise<void> {
    const paths = Object.keys(labels).map((k) => `labels.${k}`);
    const info = { digest, size: '0', labels };
    await this.unary(
      'update content',
      (md, o, cb) => this.content.update({ info, updateMask: paths }, md, o, cb),
      lease,
    );
  }

  async createLease(id: string, ttlMs: number): Promise<void> {
    const labels = { 'containerd.io/gc.expire': new Date(Date.now() + ttlMs).toISOString() };
    try {
      await this.unary('create lease', (md, o, cb) => this.leases.create({ id, labels }, md, o, cb));
    } catch (err) {
      if ((err as StoreError).kind !== 'exists') throw err;
    }
  }

  async deleteLease(id: string): Promise<void> {
    await this.unary('delete lease', (md, o, cb) => this.leases.delete({ id, sync: false }, md, o, cb));
  }

  async criImageId(ref: string): Promise<string | undefined> {
    try {
      const req = { image: { image: ref, annotations: {} }, verbose: false };
      const res = await this.unary<ImageStatusResponse>('CRI image status', (md, o, cb) =>
        this.cri.imageStatus(req, md, o, cb),
      );
      return res.image?.id || undefined;
    } catch (err) {
      // CRI disabled (plain containerd): the image simply is not visible to a kubelet.
      if ((err as StoreError).kind === 'internal') return undefined;
      throw err;
    }
  }

  private metadata(lease?: string): Metadata {
    const md = new Metadata();
    md.set('containerd-namespace', this.opts.namespace);
    if (lease) md.set('containerd-lease', lease);
    return md;
  }

  private unary<T>(
    what: string,
    invoke: (md: Metadata, opts: Partial<CallOptions>, cb: Callback<T>) => void,
    lease?: string,
  ): Promise<T> {
    const deadline = Date.now() + (this.opts.callTimeoutMs ?? 30_000);
    return new Promise((resolve, reject) => {
      invoke(this.metadata(lease), { deadline }, (err, res) =>
        err ? reject(toStoreError(err, what)) : resolve(res),
      );
    });
  }

  /** A unary call whose NOT_FOUND means "absent" rather than a failure. */
  private async maybe<T>(
    what: string,
    invoke: (md: Metadata, o: Partial<CallOptions>, cb: Callback<T>) => void,
  ) {
    try {
      return await this.unary(what, invoke);
    } catch (err) {
      if ((err as StoreError).kind === 'not-found') return undefined;
      throw err;
    }
  }
}

function fromImage(i: Image): ImageRecord {
  const t = i.target;
  return {
    name: i.name,
    labels: i.labels,
    target: { mediaType: t?.mediaType ?? '', digest: t?.digest ?? '', size: Number(t?.size ?? 0) },
  };
}

/**
 * One content Write stream. containerd answers every request with one response, in order; writes are pipelined
 * up to {@link MAX_INFLIGHT_WRITES} and every WRITE carries its absolute offset (offset 0 would truncate).
 */
class ContainerdIngest implements Ingest {
  private sent = 0;
  private readonly waiting: Array<{
    resolve: (r: WriteContentResponse) => void;
    reject: (e: unknown) => void;
  }> = [];
  private readonly inflight: Array<Promise<WriteContentResponse>> = [];
  private failure: StoreError | undefined;
  private readonly finished: Promise<void>;

  constructor(
    private readonly call: ClientDuplexStream<WriteContentRequest, WriteContentResponse>,
    private readonly opts: WriteOptions,
    private readonly content: ContentClient,
    private readonly md: Metadata,
  ) {
    call.on('data', (res: WriteContentResponse) => this.waiting.shift()?.resolve(res));
    this.finished = new Promise((resolve) => {
      call.on('status', () => resolve());
      call.on('error', (err) => {
        this.failure = toStoreError(err, `write ${opts.digest}`);
        for (const w of this.waiting.splice(0)) w.reject(this.failure);
        resolve();
      });
    });
  }

  get offset(): number {
    return this.sent;
  }

  async open(): Promise<Ingest | 'exists'> {
    const { ref, size, digest } = this.opts;
    try {
      const res = await this.send({ action: WriteAction.STAT, ref, total: String(size), expected: digest });
      this.sent = Number(res.offset);
      return this;
    } catch (err) {
      this.call.cancel();
      if ((err as StoreError).kind === 'exists') return 'exists';
      throw err;
    }
  }

  async write(data: Uint8Array): Promise<void> {
    const offset = this.sent;
    this.sent += data.length;
    this.inflight.push(
      this.send({ action: WriteAction.WRITE, offset: String(offset), data: asBuffer(data) }),
    );
    if (this.inflight.length >= MAX_INFLIGHT_WRITES) await this.inflight.shift();
  }

  async commit(labels: Record<string, string>): Promise<'committed' | 'exists'> {
    const { size, digest } = this.opts;
    const req = {
      action: WriteAction.COMMIT,
      offset: String(this.sent),
      total: String(size),
      expected: digest,
      labels,
    };
    try {
      await Promise.all([...this.inflight.splice(0), this.send(req)]);
      return 'committed';
    } catch (err) {
      if ((err as StoreError).kind === 'exists') return 'exists';
      throw err;
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.inflight.splice(0));
    this.call.end();
    await this.finished;
  }

  async abort(): Promise<void> {
    await this.close();
    await new Promise<void>((resolve, reject) =>
      this.content.abort({ ref: this.opts.ref }, this.md, (err) =>
        err && err.code !== status.NOT_FOUND ? reject(toStoreError(err, 'abort')) : resolve(),
      ),
    );
  }

  private async send(partial: Partial<WriteContentRequest>): Promise<WriteContentResponse> {
    if (this.failure) throw this.failure;
    const response = new Promise<WriteContentResponse>((resolve, reject) =>
      this.waiting.push({ resolve, reject }),
    );
    response.catch(() => undefined); // observed by the awaiting caller; avoid unhandled-rejection noise
    if (!this.call.write(WriteContentRequest.fromPartial(partial))) await once(this.call, 'drain');
    return response;
  }
}
