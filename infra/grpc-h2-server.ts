/**
 * A gRPC server straight on node:http2, for the agent's service (unary and server-streaming methods). Why not
 * grpc-js's server: it serializes every response message into a new buffer and copies it again behind the
 * 5-byte prefix; serving blob bytes (ReadBlob, hundreds of MiB per transfer) that way cost a source agent more
 * CPU in copies and garbage collection than reading the blob from containerd. Here a method may answer with
 * {@link EncodedMessage}s: pieces (a small header, then views of the bytes containerd sent) written one after
 * the other, never copied. See docs/adr/0008-agent-data-path-on-node-http2.md.
 *
 * Wire format: gRPC over HTTP/2 (PROTOCOL-HTTP2.md): POST, `content-type: application/grpc`, length-prefixed
 * messages, `grpc-status` / `grpc-message` in trailers (or alone in the headers: "Trailers-Only"). Deadlines
 * (`grpc-timeout`) and cancellation (the client resets the stream) abort the handler's signal. Compressed
 * requests are refused (UNIMPLEMENTED): no tote client compresses.
 */
import { once } from 'node:events';
import http2, {
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type SecureServerOptions,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { status } from '@grpc/grpc-js';
import { GRPC_PREFIX_BYTES, writeGrpcPrefix } from '../common/wire.js';

/** What a handler knows about its call. */
export interface RpcContext {
  /** Subject CN of the caller's verified client certificate (mTLS only). */
  peerCN?: string;
  /** Request headers (gRPC metadata). */
  metadata: IncomingHttpHeaders;
  /** Aborted when the caller cancels, the deadline passes or the server stops. */
  signal: AbortSignal;
}

/** A response message already encoded, as pieces sent one after the other (the caller keeps them unchanged). */
export class EncodedMessage {
  readonly length: number;

  constructor(readonly pieces: readonly Uint8Array[]) {
    this.length = pieces.reduce((n, p) => n + p.length, 0);
  }
}

interface MethodBase<Req, Res> {
  /** `/package.Service/Method`. */
  path: string;
  decode(bytes: Buffer): Req;
  encode(res: Res): Uint8Array;
}

/** A unary method. */
export interface UnaryMethod<Req, Res> extends MethodBase<Req, Res> {
  kind: 'unary';
  handle(req: Req, ctx: RpcContext): Promise<Res>;
}

/** A server-streaming method: every item is a response message, or one already encoded. */
export interface StreamMethod<Req, Res> extends MethodBase<Req, Res> {
  kind: 'stream';
  handle(req: Req, ctx: RpcContext): AsyncIterable<Res | EncodedMessage>;
}

/** A method of the server; request and response types are the method's own. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Method = UnaryMethod<any, any> | StreamMethod<any, any>;

/** Options of {@link GrpcH2Server.listen}. */
export interface GrpcH2ServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** TLS (e.g. mTLS: `requestCert` and `rejectUnauthorized`); plaintext HTTP/2 without. */
  tls?: SecureServerOptions;
  /** Largest request message accepted. @default 16 MiB */
  maxReceiveBytes?: number;
}

/** An error that carries a gRPC status (AgentError, GrpcError, grpc-js's ServiceError); anything else is INTERNAL. */
function statusOf(err: unknown): { code: status; details: string } {
  const e = err as { code?: unknown; details?: unknown; message?: unknown } | null;
  const code =
    typeof e?.code === 'number' && e.code > 0 && e.code <= 16 ? (e.code as status) : status.INTERNAL;
  const details = typeof e?.details === 'string' ? e.details : String(e?.message ?? err);
  return { code, details };
}

/** Percent-encodes a status message as the protocol asks (printable ASCII except `%` passes as is). */
export function encodeGrpcMessage(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) =>
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

const TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** The deadline of a `grpc-timeout` header, in ms from now; undefined when absent or malformed. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  const m = v ? /^(\d{1,8})([HMSmun])$/.exec(v) : null;
  return m ? Number(m[1]) * (TIMEOUT_UNITS[m[2] as string] as number) : undefined;
}

/** The 5-byte gRPC prefix of an uncompressed message of `n` bytes. */
function prefix(n: number): Buffer {
  const p = Buffer.allocUnsafe(GRPC_PREFIX_BYTES);
  writeGrpcPrefix(p, n);
  return p;
}

class CallFailure extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(details);
  }
}

/** Reads the one request message of a call. */
async function readRequest(stream: ServerHttp2Stream, max: number, signal: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max + GRPC_PREFIX_BYTES)
      throw new CallFailure(
        status.RESOURCE_EXHAUSTED,
        `received message larger than max (over ${max} bytes)`,
      );
    chunks.push(chunk);
    if (signal.aborted) break;
  }
  const all = Buffer.concat(chunks, total);
  if (all.length < GRPC_PREFIX_BYTES) throw new CallFailure(status.INTERNAL, 'no request message');
  if (all[0] !== 0) throw new CallFailure(status.UNIMPLEMENTED, 'compressed messages are not supported');
  const len = all.readUInt32BE(1);
  if (len !== all.length - GRPC_PREFIX_BYTES)
    throw new CallFailure(status.INTERNAL, 'expected exactly one request message');
  return all.subarray(GRPC_PREFIX_BYTES);
}

function peerCN(stream: ServerHttp2Stream): string | undefined {
  const socket = stream.session?.socket as TLSSocket | undefined;
  const cn = socket?.getPeerCertificate?.()?.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? cn[0] : cn || undefined;
}

/** One call: headers once, messages with backpressure, then the status in trailers. */
class Call {
  private headersSent = false;
  private finished = false;
  readonly controller = new AbortController();

  constructor(readonly stream: ServerHttp2Stream) {
    stream.once('close', () =>
      this.controller.abort(new CallFailure(status.CANCELLED, 'cancelled by the caller')),
    );
  }

  get open(): boolean {
    return !this.finished && !this.stream.closed && !this.stream.destroyed;
  }

  /** Sends one message; resolves when the stream can take more. */
  async send(pieces: readonly Uint8Array[], length: number): Promise<void> {
    this.sendHeaders();
    const s = this.stream;
    s.cork();
    s.write(prefix(length));
    let ok = true;
    for (const p of pieces) ok = s.write(p);
    s.uncork();
    if (!ok && this.open) await once(s, 'drain', { signal: this.controller.signal });
  }

  /** Ends the call with `code` (OK after the last message). */
  finish(code: status, details = ''): void {
    if (!this.open) return;
    this.finished = true;
    const trailers: http2.OutgoingHttpHeaders = { 'grpc-status': String(code) };
    // Trimmed: HTTP/2 refuses a header value that starts or ends with whitespace (the header would be lost).
    const message = details.slice(0, 4096).trim();
    if (message) trailers['grpc-message'] = encodeGrpcMessage(message);
    if (!this.headersSent) {
      // Trailers-Only: the status travels in the one HEADERS frame.
      this.stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', ...trailers },
        { endStream: true },
      );
      return;
    }
    this.stream.once('wantTrailers', () => this.stream.sendTrailers(trailers));
    this.stream.end();
  }

  private sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  }
}

/** A listening gRPC server; see the module comment. */
export class GrpcH2Server {
  private readonly sessions = new Set<Http2Session>();
  private readonly methods = new Map<string, Method>();

  private constructor(
    private readonly server: Http2Server | Http2SecureServer,
    readonly port: number,
    methods: readonly Method[],
    private readonly maxReceiveBytes: number,
  ) {
    for (const m of methods) this.methods.set(m.path, m);
  }

  /** Binds and starts serving `methods`. */
  static async listen(opts: GrpcH2ServerOptions, methods: readonly Method[]): Promise<GrpcH2Server> {
    const common = {
      settings: { initialWindowSize: 1 << 20 },
      // As grpc-js does: node's default cap of 10 MB of buffered session data refuses streams under load.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    };
    const server = opts.tls
      ? http2.createSecureServer({ ...common, ...opts.tls, allowHTTP1: false })
      : http2.createServer(common);
    server.listen(opts.port, opts.host);
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))]);
    const port = (server.address() as AddressInfo).port;
    const grpc = new GrpcH2Server(server, port, methods, opts.maxReceiveBytes ?? 16 << 20);
    server.on('session', (s: Http2Session) => grpc.track(s));
    server.on('stream', (stream, headers) => void grpc.dispatch(stream, headers));
    // A failed handshake (no or a foreign client certificate) is the client's problem; keep serving.
    server.on('tlsClientError', () => undefined);
    return grpc;
  }

  /** New TLS credentials for new connections (certificate rotation). */
  setSecureContext(opts: SecureServerOptions): void {
    (this.server as Http2SecureServer).setSecureContext(opts);
  }

  /** Stops accepting connections, lets running calls finish for `graceMs`, then cancels them. */
  async stop(graceMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.close();
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }

  private track(session: Http2Session): void {
    this.sessions.add(session);
    session.on('error', () => undefined); // the streams on it fail; the server keeps serving
    session.once('close', () => this.sessions.delete(session));
  }

  private async dispatch(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    stream.on('error', () => undefined); // a reset by the caller ends the call (signal aborted)
    const call = new Call(stream);
    const method = this.methods.get(String(headers[':path']));
    const timeout = parseGrpcTimeout(headers['grpc-timeout'] as string | undefined);
    const timer =
      timeout === undefined
        ? undefined
        : setTimeout(() => {
            call.finish(status.DEADLINE_EXCEEDED, 'deadline exceeded');
            call.controller.abort(new CallFailure(status.DEADLINE_EXCEEDED, 'deadline exceeded'));
          }, timeout);
    try {
      if (!method) throw new CallFailure(status.UNIMPLEMENTED, `unknown method ${String(headers[':path'])}`);
      if (!String(headers['content-type'] ?? '').startsWith('application/grpc'))
        throw new CallFailure(status.INTERNAL, 'content-type must be application/grpc');
      const ctx = { peerCN: peerCN(stream), metadata: headers, signal: call.controller.signal };
      const req = method.decode(await readRequest(stream, this.maxReceiveBytes, ctx.signal));
      await run(method, req, ctx, call);
      call.finish(status.OK);
    } catch (err) {
      const s = statusOf(call.controller.signal.aborted ? call.controller.signal.reason : err);
      call.finish(s.code, s.details);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function run(method: Method, req: unknown, ctx: RpcContext, call: Call): Promise<void> {
  if (method.kind === 'unary') {
    const bytes = method.encode(await method.handle(req, ctx));
    return call.send([bytes], bytes.length);
  }
  for await (const item of method.handle(req, ctx)) {
    if (ctx.signal.aborted) break;
    if (item instanceof EncodedMessage) await call.send(item.pieces, item.length);
    else {
      const bytes = method.encode(item);
      await call.send([bytes], bytes.length);
    }
  }
}
