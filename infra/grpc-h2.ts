/**
 * gRPC streaming calls straight over node:http2, for the blob data path only (containerd Read and Write, the
 * agents' ReadBlob). grpc-js gathers every received message into a new buffer and copies every sent one into
 * another; at hundreds of MiB per transfer that, and the garbage it makes, cost more CPU than everything else
 * in the agent. Here received bytes reach the caller as views of what the socket delivered
 * ({@link readOffsetData}) and sent data is written after a separately encoded header, never copied.
 * Everything else (unary calls, the agent's server side) stays on grpc-js. Wire format: the gRPC over HTTP/2
 * protocol (PROTOCOL-HTTP2.md): POST, `content-type: application/grpc`, `te: trailers`, length-prefixed
 * messages, `grpc-status` / `grpc-message` in the trailers (or alone in the headers, "Trailers-Only").
 */
import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type SecureClientSessionOptions,
} from 'node:http2';
import { connect as netConnect } from 'node:net';
import { status } from '@grpc/grpc-js';
import { OffsetDataDecoder, type OffsetDataPart } from '../common/wire.js';

/** A call that ended with a non-OK gRPC status; shaped like grpc-js's ServiceError (code, details). */
export class GrpcError extends Error {
  override readonly name = 'GrpcError';

  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(`${code} ${status[code] ?? ''}: ${details}`);
  }
}

// Received-bytes flow-control window per stream and per connection: at the 64 KiB default a blob stream stalls
// every few packets waiting for window updates; much more only grows what a slow consumer holds in memory.
const WINDOW_BYTES = 4 << 20;
// Received data queued for a slow consumer before the stream is paused (HTTP/2 flow control then stops the peer).
const QUEUE_HIGH_BYTES = 1 << 20;
const KEEPALIVE_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 10_000;

/** Where and how to connect. */
export type H2Target =
  { kind: 'unix'; path: string } | { kind: 'tcp'; address: string; tls?: SecureClientSessionOptions };

function open(target: H2Target): ClientHttp2Session {
  const common = {
    settings: { initialWindowSize: WINDOW_BYTES },
    // As grpc-js does: node's default cap of 10 MB of buffered session data refuses streams under load.
    maxSessionMemory: Number.MAX_SAFE_INTEGER,
  };
  if (target.kind === 'unix') {
    return http2.connect('http://localhost', { ...common, createConnection: () => netConnect(target.path) });
  }
  const scheme = target.tls ? 'https' : 'http';
  return http2.connect(`${scheme}://${target.address}`, { ...common, ...target.tls });
}

/**
 * One HTTP/2 connection, opened on first use and opened again after it closed or failed. With `keepalive`, a
 * ping every 30 s finds a dead peer (the connection is then destroyed and its calls fail UNAVAILABLE).
 */
export class H2Connection {
  private current: ClientHttp2Session | undefined;
  private closed = false;
  /** Calls running per session: a session with none must not keep the process alive. */
  private readonly calls = new Map<ClientHttp2Session, number>();

  constructor(
    private readonly target: H2Target,
    private readonly opts: { keepalive?: boolean } = {},
  ) {}

  /** The live session, connecting if needed. */
  session(): ClientHttp2Session {
    if (this.closed) throw new GrpcError(status.CANCELLED, 'connection closed');
    const s = this.current;
    if (s && !s.closed && !s.destroyed) return s;
    const next = open(this.target);
    // Errors reach the calls on it (their streams fail); an unhandled 'error' would crash the process.
    next.on('error', () => undefined);
    next.once('connect', () => next.setLocalWindowSize(WINDOW_BYTES));
    next.on('goaway', () => {
      if (this.current === next) this.current = undefined;
    });
    next.once('close', () => {
      if (this.current === next) this.current = undefined;
    });
    if (this.opts.keepalive) keepalive(next);
    next.unref(); // referenced only while calls run (see start)
    this.current = next;
    return next;
  }

  /** Starts a call, keeping the connection referenced (the process alive) while it runs. */
  start(opts: CallOptions): RawCall {
    const session = this.session();
    const call = startCall(session, opts);
    this.calls.set(session, (this.calls.get(session) ?? 0) + 1);
    session.ref();
    call.stream.once('close', () => {
      const left = (this.calls.get(session) ?? 1) - 1;
      if (left > 0) return void this.calls.set(session, left);
      this.calls.delete(session);
      if (!session.destroyed) session.unref();
    });
    return call;
  }

  /** Closes the connection; calls under way finish first. */
  close(): void {
    this.closed = true;
    this.current?.close();
    this.current = undefined;
  }
}

function keepalive(session: ClientHttp2Session): void {
  const timer = setInterval(() => {
    const deadline = setTimeout(
      () => session.destroy(new Error('keepalive ping timed out')),
      KEEPALIVE_TIMEOUT_MS,
    );
    deadline.unref();
    const sent = session.ping((err) => {
      clearTimeout(deadline);
      if (err && !session.destroyed) session.destroy(err);
    });
    if (!sent) clearTimeout(deadline);
  }, KEEPALIVE_MS);
  timer.unref();
  session.once('close', () => clearInterval(timer));
}

/** Options of {@link startCall}. */
export interface CallOptions {
  /** `/package.Service/Method`. */
  path: string;
  /** Extra request headers (gRPC metadata), e.g. `containerd-namespace`. */
  metadata?: Record<string, string>;
  /** Deadline from now, sent as `grpc-timeout` and enforced here too. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

const HTTP_TO_GRPC: Record<number, status> = {
  400: status.INTERNAL,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  404: status.UNIMPLEMENTED,
  429: status.UNAVAILABLE,
  502: status.UNAVAILABLE,
  503: status.UNAVAILABLE,
  504: status.UNAVAILABLE,
};

function timeoutHeader(ms: number): string {
  return ms < 1e8 ? `${Math.max(1, Math.ceil(ms))}m` : `${Math.ceil(ms / 1000)}S`;
}

function decodeMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The status a closed stream ended with when the server sent none: why the stream broke. */
function brokenStreamError(
  stream: ClientHttp2Stream,
  err: Error | undefined,
  session: ClientHttp2Session,
): GrpcError {
  // The connection went (handshake refused, peer gone): retryable, as grpc-js reports it.
  if (session.destroyed || session.closed) {
    return new GrpcError(status.UNAVAILABLE, `connection lost${err ? `: ${err.message}` : ''}`);
  }
  const rst = stream.rstCode;
  if (rst === http2.constants.NGHTTP2_REFUSED_STREAM)
    return new GrpcError(status.UNAVAILABLE, 'stream refused by the server');
  if (rst === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)
    return new GrpcError(status.RESOURCE_EXHAUSTED, 'the server asked to slow down');
  if (rst === http2.constants.NGHTTP2_INADEQUATE_SECURITY)
    return new GrpcError(status.PERMISSION_DENIED, 'inadequate transport security');
  if (err) return new GrpcError(status.UNAVAILABLE, err.message);
  if (rst === http2.constants.NGHTTP2_CANCEL)
    return new GrpcError(status.CANCELLED, 'stream cancelled by the server');
  return new GrpcError(status.INTERNAL, `stream closed without a gRPC status (HTTP/2 code ${rst ?? 'none'})`);
}

/** A gRPC call in progress: write request messages on {@link stream}; {@link done} settles with the status. */
export class RawCall {
  readonly stream: ClientHttp2Stream;
  /** Resolves when the call ends OK, rejects with a {@link GrpcError} otherwise. */
  readonly done: Promise<void>;
  private outcome: GrpcError | undefined;
  private local: GrpcError | undefined;

  constructor(session: ClientHttp2Session, opts: CallOptions) {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': opts.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(opts.deadlineMs !== undefined ? { 'grpc-timeout': timeoutHeader(opts.deadlineMs) } : {}),
      ...opts.metadata,
    };
    this.stream = session.request(headers);
    this.done = new Promise<void>((resolve, reject) => {
      this.stream.on('response', (h) => this.onHeaders(h));
      this.stream.on('trailers', (h) => this.onHeaders(h));
      let streamError: Error | undefined;
      const onError = (err: Error): void => void (streamError ??= err);
      this.stream.on('error', onError);
      session.on('error', onError);
      this.stream.once('close', () => {
        session.off('error', onError);
        const failure = this.local ?? this.outcome ?? brokenStreamError(this.stream, streamError, session);
        if (failure.code === status.OK) resolve();
        else reject(failure);
      });
    });
    this.done.catch(() => undefined); // observed by the caller; no unhandled-rejection noise
    this.arm(opts);
  }

  /** Ends the call from this side with `code` (CANCELLED by default). */
  cancel(code: status = status.CANCELLED, details = 'cancelled by the caller'): void {
    if (this.stream.closed) return;
    this.local ??= new GrpcError(code, details);
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  private arm(opts: CallOptions): void {
    const onAbort = (): void => this.cancel();
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      opts.deadlineMs === undefined
        ? undefined
        : setTimeout(() => this.cancel(status.DEADLINE_EXCEEDED, 'deadline exceeded'), opts.deadlineMs);
    timer?.unref();
    this.stream.once('close', () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    });
  }

  private onHeaders(h: http2.IncomingHttpHeaders): void {
    const http = Number(h[':status'] ?? 200);
    if (http !== 200 && !this.outcome) {
      this.outcome = new GrpcError(HTTP_TO_GRPC[http] ?? status.UNKNOWN, `HTTP status ${http}`);
    }
    const code = h['grpc-status'];
    if (code === undefined) return;
    const message = decodeMessage(String(h['grpc-message'] ?? ''));
    const n = Number(code);
    this.outcome = new GrpcError(Number.isInteger(n) && n >= 0 && n <= 16 ? n : status.UNKNOWN, message);
  }
}

/** Starts a call on `session`; UNAVAILABLE when the session cannot take a stream (closing, failed). */
export function startCall(session: ClientHttp2Session, opts: CallOptions): RawCall {
  try {
    return new RawCall(session, opts);
  } catch (err) {
    throw new GrpcError(status.UNAVAILABLE, (err as Error).message);
  }
}

/** Received parts not consumed yet; pauses the stream past a few MiB and resumes it once half of that is read. */
class PartQueue {
  private parts: OffsetDataPart[] = [];
  private head = 0;
  private bytes = 0;
  private wake: (() => void) | undefined;
  ended = false;

  constructor(private readonly stream: ClientHttp2Stream) {}

  push(parts: OffsetDataPart[]): void {
    for (const p of parts) {
      this.parts.push(p);
      this.bytes += p.data.length;
    }
    if (this.bytes > QUEUE_HIGH_BYTES) this.stream.pause();
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  /** The next part, or undefined when none is queued. */
  shift(): OffsetDataPart | undefined {
    const p = this.parts[this.head];
    if (!p) {
      this.parts = [];
      this.head = 0;
      return undefined;
    }
    this.parts[this.head++] = undefined as unknown as OffsetDataPart; // let it be collected
    this.bytes -= p.data.length;
    if (this.stream.isPaused() && this.bytes <= QUEUE_HIGH_BYTES / 2) this.stream.resume();
    return p;
  }

  /** Resolves at the next push or end. */
  wait(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private notify(): void {
    this.wake?.();
    this.wake = undefined;
  }
}

/**
 * Reads a server stream of `{offset, data}` messages as data parts that are views of the received bytes, with
 * backpressure: past a few MiB not consumed yet, the stream is paused and HTTP/2 flow control holds the server.
 * Ends after the server's OK status; throws its status otherwise, or INTERNAL for bytes that are not gRPC.
 * Leaving the loop early cancels the call.
 */
export async function* readOffsetData(call: RawCall): AsyncGenerator<OffsetDataPart> {
  const decoder = new OffsetDataDecoder();
  const queue = new PartQueue(call.stream);
  call.stream.on('data', (chunk: Buffer) => {
    try {
      queue.push(decoder.push(chunk));
    } catch (err) {
      call.cancel(status.INTERNAL, `malformed response: ${(err as Error).message}`);
    }
  });
  call.stream.once('end', () => queue.end());
  call.stream.once('close', () => queue.end());
  try {
    for (;;) {
      const part = queue.shift();
      if (part) yield part;
      else if (queue.ended) break;
      else await queue.wait();
    }
    await call.done;
    if (!decoder.atBoundary) throw new GrpcError(status.INTERNAL, 'stream ended inside a message');
  } finally {
    call.cancel(); // no-op once the call has ended
  }
}
