import {
  credentials,
  Metadata,
  type CallOptions,
  type ChannelOptions,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { grpcFrame } from '../common/wire.js';
import {
  AgentClient as GeneratedClient,
  ReadBlobRequest,
  type HasImageResponse,
  type ImportFromRequest,
  type ImportFromResponse,
  type ListImagesResponse,
  type PrepareExportRequest,
  type PrepareExportResponse,
  type PushImageRequest,
  type PushImageResponse,
  type ReadBlobResponse,
  type RemoveImageResponse,
  type ResolveTagResponse,
} from '../proto/gen/tote/v1/agent.js';
import { H2Connection, readOffsetData } from './grpc-h2.js';
import {
  clientCredentials,
  clientTlsOptions,
  tlsChannelOptions,
  AGENT_TLS_NAME,
  type TlsFiles,
} from './tls.js';

/** How to reach an agent. Exactly one of `tls` and `insecure` must be given: plaintext is never a fallback. */
export interface AgentClientOptions {
  /** host:port of the agent's gRPC port. */
  address: string;
  /** mTLS files (TLS 1.3; the server is verified as {@link serverName}). */
  tls?: TlsFiles;
  /** Plaintext, for local development only (the agent's --insecure-dev). */
  insecure?: boolean;
  /** Name the agent certificates carry. @default "tote-agent" */
  serverName?: string;
  /** Deadline of unary calls. @default 30000 */
  deadlineMs?: number;
  /** Deadline of streaming calls (a whole blob or import). @default 3600000 */
  streamDeadlineMs?: number;
}

/** Per-call options: a cancellation signal and a deadline override. */
export interface CallOpts {
  signal?: AbortSignal;
  deadlineMs?: number;
}

type Callback<T> = (err: ServiceError | null, res: T) => void;

// Keepalive pings find a dead peer (node gone, NAT dropped) in ~40 s instead of a TCP timeout of minutes.
const KEEPALIVE: ChannelOptions = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  // PrepareExport answers carry a manifest or index and the whole blob list.
  'grpc.max_receive_message_length': 16 << 20,
};

/**
 * Typed promise/async-iterator client for the tote.v1 Agent service, with a deadline on every call. ReadBlob,
 * the one call that carries blob bytes, runs on its own HTTP/2 connection without grpc-js
 * (infra/grpc-h2.ts): its chunks arrive as views of the received bytes, never copied.
 */
export class AgentClient {
  private readonly client: GeneratedClient;
  private readonly blobs: H2Connection;

  constructor(private readonly opts: AgentClientOptions) {
    if (Boolean(opts.tls) === Boolean(opts.insecure)) {
      throw new Error('agent client: give exactly one of tls (mTLS files) and insecure (explicit plaintext)');
    }
    const creds = opts.tls ? clientCredentials(opts.tls) : credentials.createInsecure();
    const channel = { ...KEEPALIVE, ...(opts.tls ? tlsChannelOptions(opts.serverName) : {}) };
    this.client = new GeneratedClient(opts.address, creds, channel);
    const tls = opts.tls && clientTlsOptions(opts.tls, opts.serverName ?? AGENT_TLS_NAME);
    this.blobs = new H2Connection({ kind: 'tcp', address: opts.address, tls }, { keepalive: true });
  }

  listImages(o?: CallOpts): Promise<ListImagesResponse> {
    return this.unary(o, (md, co, cb) => this.client.listImages({}, md, co, cb));
  }

  hasImage(digest: string, o?: CallOpts): Promise<HasImageResponse> {
    return this.unary(o, (md, co, cb) => this.client.hasImage({ digest }, md, co, cb));
  }

  resolveTag(ref: string, o?: CallOpts): Promise<ResolveTagResponse> {
    return this.unary(o, (md, co, cb) => this.client.resolveTag({ ref }, md, co, cb));
  }

  removeImage(ref: string, o?: CallOpts): Promise<RemoveImageResponse> {
    return this.unary(o, (md, co, cb) => this.client.removeImage({ ref }, md, co, cb));
  }

  prepareExport(req: PrepareExportRequest, o?: CallOpts | AbortSignal): Promise<PrepareExportResponse> {
    return this.unary(callOpts(o), (md, co, cb) => this.client.prepareExport(req, md, co, cb));
  }

  /** Streams a blob; each chunk's data is a view of the received bytes (never reused by this client). */
  async *readBlob(req: ReadBlobRequest, o?: CallOpts | AbortSignal): AsyncIterable<ReadBlobResponse> {
    const co = callOpts(o);
    const call = this.blobs.start({
      path: '/tote.v1.Agent/ReadBlob',
      deadlineMs: co?.deadlineMs ?? this.opts.streamDeadlineMs ?? 3_600_000,
      signal: co?.signal,
    });
    call.stream.end(grpcFrame(ReadBlobRequest.encode(req).finish()));
    for await (const { offset, data } of readOffsetData(call)) {
      yield { offset: String(offset), data: Buffer.from(data.buffer, data.byteOffset, data.length) };
    }
  }

  importFrom(req: ImportFromRequest, o?: CallOpts): AsyncIterable<ImportFromResponse> {
    return this.stream(o, (co) => this.client.importFrom(req, new Metadata(), co));
  }

  pushImage(req: PushImageRequest, o?: CallOpts): AsyncIterable<PushImageResponse> {
    return this.stream(o, (co) => this.client.pushImage(req, new Metadata(), co));
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
    this.blobs.close();
  }

  private unary<T>(
    o: CallOpts | undefined,
    invoke: (md: Metadata, co: Partial<CallOptions>, cb: Callback<T>) => { cancel(): void },
  ): Promise<T> {
    const deadline = Date.now() + (o?.deadlineMs ?? this.opts.deadlineMs ?? 30_000);
    const signal = o?.signal;
    return new Promise((resolve, reject) => {
      // The listener goes when the call ends: callers reuse one signal for many calls (an activity retrying a
      // busy source), and listeners left behind pile up (MaxListenersExceededWarning) and pin the calls.
      let ended = false;
      const cancel = (): void => call.cancel();
      const call = invoke(new Metadata(), { deadline }, (err, res) => {
        ended = true;
        signal?.removeEventListener('abort', cancel);
        if (err) reject(err);
        else resolve(res);
      });
      if (!signal || ended) return;
      if (signal.aborted) {
        call.cancel();
        return;
      }
      signal.addEventListener('abort', cancel, { once: true });
    });
  }

  private async *stream<T>(
    o: CallOpts | undefined,
    open: (co: Partial<CallOptions>) => ClientReadableStream<T>,
  ): AsyncGenerator<T> {
    const deadline = Date.now() + (o?.deadlineMs ?? this.opts.streamDeadlineMs ?? 3_600_000);
    const call = open({ deadline });
    const cancel = (): void => call.cancel();
    o?.signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const msg of call) yield msg as T;
    } finally {
      o?.signal?.removeEventListener('abort', cancel);
      call.cancel(); // no-op when finished; stops the stream when the consumer breaks out early
    }
  }
}

function callOpts(o: CallOpts | AbortSignal | undefined): CallOpts | undefined {
  return o instanceof AbortSignal ? { signal: o } : o;
}
