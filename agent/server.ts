import { status } from '@grpc/grpc-js';
import type {
  EncodedMessage,
  Method,
  RpcContext,
  StreamMethod,
  UnaryMethod,
} from '../infra/grpc-h2-server.js';
import {
  AgentService,
  type ImportFromRequest,
  type PrepareExportRequest,
  type PrepareExportResponse,
  type PushImageRequest,
  type ReadBlobRequest,
} from '../proto/gen/tote/v1/agent.js';
import { AgentError, toAgentError } from './errors.js';
import { ExportSlots, prepareExport, readBlob, type ExportDeps } from './export.js';
import { runImport, type ImportDeps } from './import.js';
import { hasImage, listImages, removeImage, resolveTag } from './inventory.js';
import { KeyedMutex } from './mutex.js';
import { runPush, type PushDeps } from './push.js';
import type { Throttle } from './rate.js';
import { SessionRegistry } from './sessions.js';

/** Everything the agent service needs; the composition root (workers/agent.ts) builds it. */
export interface AgentServiceDeps extends Omit<ImportDeps, 'parallelism'>, PushDeps {
  /** Data bytes per ReadBlob message (--chunk-size). */
  chunkSize: number;
  maxConcurrentExports: number;
  /** Blobs an import transfers at once. @default 4 */
  importParallelism?: number;
  /** Subject CN of this agent's own certificate: a peer presenting the same one is told apart by name only. */
  ownIdentity?: string;
  /** Clock for session lifetimes. @default Date.now */
  now?: () => number;
  /** Upload budget shared by all ReadBlob streams (agent/rate.ts `RateLimiter`). @default unlimited */
  uploadLimiter?: Throttle;
}

/**
 * The caller's node identity: the CN of its verified client certificate. When agents share one certificate
 * (one Secret for the whole DaemonSet) the certificate cannot tell nodes apart and the claimed name is used;
 * without TLS (--insecure-dev) only the claimed name exists.
 */
export function peerIdentity(ctx: Pick<RpcContext, 'peerCN'>, claimed: string, ownIdentity?: string): string {
  const name = ctx.peerCN;
  if (!name || name === ownIdentity) return claimed;
  return name;
}

type Def = { path: string; requestDeserialize(b: Buffer): unknown; responseSerialize(v: never): Buffer };

/**
 * Builds the tote.v1 Agent service as the methods of infra/grpc-h2-server.ts: every failure is logged, counted
 * and mapped to a gRPC status code; ReadBlob answers with chunks encoded around the store's bytes.
 */
export function createAgentService(deps: AgentServiceDeps): Method[] {
  const sessions = new SessionRegistry<PrepareExportResponse>({ node: deps.node, now: deps.now });
  const exportDeps: ExportDeps & { slots: ExportSlots } = {
    ...{ store: deps.store, sessions, node: deps.node, chunkSize: deps.chunkSize },
    ...{ maxConcurrentExports: deps.maxConcurrentExports, slots: new ExportSlots(deps.maxConcurrentExports) },
    uploadLimiter: deps.uploadLimiter,
  };
  const importDeps: ImportDeps = { ...deps, parallelism: deps.importParallelism };
  const imports = new KeyedMutex();
  const fail = (rpc: string, err: unknown): AgentError => {
    const e = toAgentError(err);
    deps.metrics.errors.inc({ rpc, code: status[e.code] });
    const level = e.code === status.INTERNAL || e.code === status.UNKNOWN ? 'error' : 'warn';
    deps.log[level]({ rpc, code: status[e.code] }, `${rpc} failed: ${e.message}`);
    return e;
  };
  const codec = (def: Def) => ({
    path: def.path,
    decode: (b: Buffer) => def.requestDeserialize(b),
    encode: (v: unknown) => def.responseSerialize(v as never),
  });
  const unary = <Req, Res>(
    rpc: string,
    def: Def,
    fn: (req: Req, ctx: RpcContext) => Promise<Res>,
  ): UnaryMethod<Req, Res> => ({
    kind: 'unary',
    ...(codec(def) as { path: string; decode(b: Buffer): Req; encode(v: Res): Uint8Array }),
    handle: (req, ctx) =>
      fn(req, ctx).catch((err: unknown) => {
        throw fail(rpc, err);
      }),
  });
  const stream = <Req, Res>(
    rpc: string,
    def: Def & { direction: string },
    fn: (req: Req, ctx: RpcContext) => AsyncIterable<Res | EncodedMessage>,
  ): StreamMethod<Req, Res> => ({
    kind: 'stream',
    ...(codec(def) as { path: string; decode(b: Buffer): Req; encode(v: Res): Uint8Array }),
    handle: (req, ctx) =>
      guarded(fn(req, ctx), { ctx, direction: def.direction, fail: (e) => fail(rpc, e), deps }),
  });
  return [
    unary('ListImages', AgentService.listImages, async () => ({ images: await listImages(deps.store) })),
    unary('HasImage', AgentService.hasImage, async (req: { digest: string }) => ({
      ...(await hasImage(deps.store, req.digest)),
      activeExports: exportDeps.slots.streaming,
      maxExports: deps.maxConcurrentExports,
    })),
    unary('ResolveTag', AgentService.resolveTag, (req: { ref: string }) => resolveTag(deps.store, req.ref)),
    unary('RemoveImage', AgentService.removeImage, (req: { ref: string }) =>
      removeImage(deps.store, req.ref),
    ),
    unary('PrepareExport', AgentService.prepareExport, (req: PrepareExportRequest) =>
      prepareExport(exportDeps, req),
    ),
    stream('ReadBlob', { ...AgentService.readBlob, direction: 'export' }, (req: ReadBlobRequest, ctx) =>
      counted(readBlob(exportDeps, req, peerIdentity(ctx, req.node, deps.ownIdentity), ctx.signal), (n) =>
        deps.metrics.bytesSent.inc(n),
      ),
    ),
    stream('ImportFrom', { ...AgentService.importFrom, direction: 'import' }, (req: ImportFromRequest, ctx) =>
      channel((emit) => imports.run(req.digest, () => runImport(importDeps, req, emit, ctx.signal))),
    ),
    stream('PushImage', { ...AgentService.pushImage, direction: 'push' }, (req: PushImageRequest, ctx) =>
      channel((emit) => runPush(deps, req, emit, ctx.signal)),
    ),
  ];
}

/** Counts the transfer as active while it runs; a failure is logged and counted (cancellation as CANCELLED). */
async function* guarded<T>(
  items: AsyncIterable<T>,
  o: { ctx: RpcContext; direction: string; fail: (err: unknown) => AgentError; deps: AgentServiceDeps },
): AsyncGenerator<T> {
  o.deps.metrics.activeTransfers.inc({ direction: o.direction });
  try {
    yield* items;
  } catch (err) {
    throw o.fail(o.ctx.signal.aborted ? new AgentError(status.CANCELLED, 'cancelled by the caller') : err);
  } finally {
    o.deps.metrics.activeTransfers.dec({ direction: o.direction });
  }
}

async function* counted<T extends { dataLength: number }>(
  it: AsyncIterable<T>,
  count: (n: number) => void,
): AsyncGenerator<T> {
  for await (const c of it) {
    yield c;
    count(c.dataLength);
  }
}

/** Turns a producer that calls `emit` into an async iterable (updates are small; they queue in memory). */
async function* channel<T>(producer: (emit: (v: T) => void) => Promise<void>): AsyncGenerator<T> {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let failure: { err: unknown } | undefined;
  producer((v) => {
    queue.push(v);
    wake?.();
  })
    .then(
      () => (done = true),
      (err: unknown) => (failure = { err }),
    )
    .finally(() => wake?.());
  for (;;) {
    while (queue.length) yield queue.shift() as T;
    if (failure) throw failure.err;
    if (done) return;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
}
