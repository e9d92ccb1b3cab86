// MAINTENANCE: the only file that knows containerd's API (docs/conventions.md, gRPC and the agent).
import { credentials, Metadata, status, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import {
  ContentClient,
  ReadContentRequest,
  WriteAction,
  WriteContentRequest,
  WriteContentResponse,
  type InfoResponse,
} from '../proto/gen/containerd/services/content/v1/content.js';
import {
  ImagesClient,
  type GetImageResponse,
  type Image,
  type ListImagesResponse,
} from '../proto/gen/containerd/services/images/v1/images.js';
import { LeasesClient } from '../proto/gen/containerd/services/leases/v1/leases.js';
import { ImageServiceClient, type ImageStatusResponse } from '../proto/gen/cri/runtime/v1/api.js';
import { grpcFrame, grpcHeader, MessageAssembler } from '../common/wire.js';
import { H2Connection, readOffsetData, type RawCall } from '../infra/grpc-h2.js';
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
const CONTENT_SERVICE = '/containerd.services.content.v1.Content';
// WRITE requests are gathered up to this size (containerd accepts 16 MiB): containerd answers every request, so
// fewer, larger ones cost less on both sides. The data is not copied: a request is a header and the caller's
// buffers.
const WRITE_MESSAGE_BYTES = 2 << 20;
// WRITE requests sent before waiting for containerd's answer: overlaps network and disk while bounding what is
// held in memory (MAX_INFLIGHT_WRITES x WRITE_MESSAGE_BYTES per ingest).
const MAX_INFLIGHT_WRITES = 3;

function toStoreError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as Partial<ServiceError>;
  const kind = (e.code !== undefined && KIND_BY_CODE[e.code]) || 'internal';
  return new StoreError(kind, `containerd ${what}: ${e.details || e.message || String(err)}`, { cause: err });
}

/** {@link Store} over containerd's content, images and leases services (and the CRI image service). */
export class ContainerdStore implements Store {
  private readonly content: ContentClient;
  /** Content Read and Write streams, over HTTP/2 directly (infra/grpc-h2.ts): the blob bytes are never copied. */
  private readonly blobs: H2Connection;
  private readonly images: ImagesClient;
  private readonly leases: LeasesClient;
  private readonly cri: ImageServiceClient;

  constructor(private readonly opts: ContainerdStoreOptions) {
    const address = `unix://${opts.socket}`;
    // Image lists and CRI answers can be large; the blob bytes go over `blobs`, not these channels.
    const channel = { 'grpc.max_receive_message_length': 16 << 20 };
    this.content = new ContentClient(address, credentials.createInsecure(), channel);
    this.blobs = new H2Connection({ kind: 'unix', path: opts.socket });
    this.images = new ImagesClient(address, credentials.createInsecure(), channel);
    this.leases = new LeasesClient(address, credentials.createInsecure(), channel);
    this.cri = new ImageServiceClient(address, credentials.createInsecure(), channel);
  }

  /** Closes the connections to containerd. */
  close(): void {
    for (const c of [this.content, this.images, this.leases, this.cri]) c.close();
    this.blobs.close();
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
    const start = opts.offset ?? 0;
    let at = start;
    const req = ReadContentRequest.encode({ digest, offset: String(start), size: '0' }).finish();
    try {
      const call = this.blobs.start({
        path: `${CONTENT_SERVICE}/Read`,
        metadata: this.headers(),
        signal: opts.signal,
      });
      call.stream.end(grpcFrame(req));
      for await (const part of readOffsetData(call)) {
        // containerd 1.6 numbers its answers from the requested offset (readResponseWriter starts at 0); accept
        // absolute offsets too, and nothing else.
        if (part.offset !== at - start && part.offset !== at) {
          throw new StoreError('data-loss', `containerd read ${digest}: bytes out of order`);
        }
        at += part.data.length;
        yield part.data;
      }
    } catch (err) {
      throw toStoreError(err, `read ${digest}`);
    }
  }

  async openWrite(opts: WriteOptions): Promise<Ingest | 'exists'> {
    const call = this.blobs.start({ path: `${CONTENT_SERVICE}/Write`, metadata: this.headers(opts.lease) });
    const ingest = new ContainerdIngest(call, opts, (ref) => this.abortIngest(ref));
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

  private abortIngest(ref: string): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.content.abort({ ref }, this.metadata(), (err) =>
        err && err.code !== status.NOT_FOUND ? reject(toStoreError(err, 'abort')) : resolve(),
      ),
    );
  }

  /** The gRPC metadata of a content stream, as HTTP/2 headers. */
  private headers(lease?: string): Record<string, string> {
    return {
      'containerd-namespace': this.opts.namespace,
      ...(lease ? { 'containerd-lease': lease } : {}),
    };
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
 * One content Write stream. containerd answers every request with one response, in order. Written data is
 * gathered (by reference) into WRITE requests of up to {@link WRITE_MESSAGE_BYTES}, pipelined up to
 * {@link MAX_INFLIGHT_WRITES}; every WRITE carries its absolute offset (0 is omitted, as containerd expects for
 * the first write; a 0 later would truncate).
 */
class ContainerdIngest implements Ingest {
  /** Bytes taken by write(): sent, or gathered for the next request. */
  private accepted = 0;
  /** Bytes sent in WRITE requests. */
  private sent = 0;
  private gathered: Uint8Array[] = [];
  private gatheredBytes = 0;
  private readonly waiting: Array<{
    resolve: (r: WriteContentResponse) => void;
    reject: (e: unknown) => void;
  }> = [];
  private readonly inflight: Array<Promise<WriteContentResponse>> = [];
  private failure: StoreError | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly call: RawCall,
    private readonly opts: WriteOptions,
    private readonly abortRef: (ref: string) => Promise<void>,
  ) {
    const answers = new MessageAssembler();
    call.stream.on('data', (chunk: Buffer) => {
      try {
        for (const m of answers.push(chunk)) this.waiting.shift()?.resolve(WriteContentResponse.decode(m));
      } catch (err) {
        call.cancel(status.INTERNAL, `malformed answer: ${(err as Error).message}`);
      }
    });
    call.done.then(
      () => this.fail(new StoreError('internal', `containerd write ${opts.digest}: stream ended early`)),
      (err: unknown) => this.fail(toStoreError(err, `write ${opts.digest}`)),
    );
  }

  get offset(): number {
    return this.accepted;
  }

  async open(): Promise<Ingest | 'exists'> {
    const { ref, size, digest } = this.opts;
    try {
      const res = await this.request({
        action: WriteAction.STAT,
        ref,
        total: String(size),
        expected: digest,
      });
      this.sent = this.accepted = Number(res.offset);
      return this;
    } catch (err) {
      this.call.cancel();
      if ((err as StoreError).kind === 'exists') return 'exists';
      throw err;
    }
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (data.length === 0) return;
    this.gathered.push(data);
    this.gatheredBytes += data.length;
    this.accepted += data.length;
    if (this.gatheredBytes >= WRITE_MESSAGE_BYTES) await this.flush();
  }

  async commit(labels: Record<string, string>): Promise<'committed' | 'exists'> {
    const { size, digest } = this.opts;
    try {
      await this.flush();
      const commit = this.request({
        action: WriteAction.COMMIT,
        offset: String(this.sent),
        total: String(size),
        expected: digest,
        labels,
      });
      await Promise.all([...this.inflight.splice(0), commit]);
      return 'committed';
    } catch (err) {
      if ((err as StoreError).kind === 'exists') return 'exists';
      throw err;
    } finally {
      await this.close();
    }
  }

  /** Sends what was gathered, then ends the stream: the bytes stay in containerd's ingest for a resumed write. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.failure) await this.flush().catch(() => undefined);
      await Promise.allSettled(this.inflight.splice(0));
      if (!this.call.stream.closed) this.call.stream.end();
      await this.call.done.catch(() => undefined);
    })();
    return this.closing;
  }

  async abort(): Promise<void> {
    await this.close();
    await this.abortRef(this.opts.ref);
  }

  private fail(err: StoreError): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  /** Sends the gathered bytes as one WRITE request; waits when too many are unanswered. */
  private async flush(): Promise<void> {
    if (this.gatheredBytes === 0) return;
    const header = grpcHeader(
      [
        [1, WriteAction.WRITE],
        [5, this.sent],
      ],
      6,
      this.gatheredBytes,
    );
    this.inflight.push(this.send([header, ...this.gathered]));
    this.sent += this.gatheredBytes;
    this.gathered = [];
    this.gatheredBytes = 0;
    if (this.inflight.length >= MAX_INFLIGHT_WRITES) await this.inflight.shift();
  }

  private request(partial: Partial<WriteContentRequest>): Promise<WriteContentResponse> {
    return this.send([
      grpcFrame(WriteContentRequest.encode(WriteContentRequest.fromPartial(partial)).finish()),
    ]);
  }

  /** Writes one request (its pieces in one go) and returns containerd's answer to it. */
  private send(pieces: Uint8Array[]): Promise<WriteContentResponse> {
    if (this.failure) return Promise.reject(this.failure);
    const answer = new Promise<WriteContentResponse>((resolve, reject) =>
      this.waiting.push({ resolve, reject }),
    );
    answer.catch(() => undefined); // observed by the awaiting caller; avoid unhandled-rejection noise
    const { stream } = this.call;
    stream.cork();
    for (const p of pieces) stream.write(p);
    stream.uncork();
    return answer;
  }
}
