import { once } from 'node:events';
import {
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type StatusObject,
} from '@grpc/grpc-js';
import type { AgentServer, PrepareExportResponse } from '../proto/gen/tote/v1/agent.js';
import { AgentError, toStatus } from './errors.js';
import { ExportSlots, prepareExport, readBlob, type ExportDeps } from './export.js';
import { runImport, type ImportDeps } from './import.js';
import { hasImage, listImages, removeImage, resolveTag } from './inventory.js';
import { KeyedMutex } from './mutex.js';
import { runPush, type PushDeps } from './push.js';
import type { Throttle } from './rate.js';
import { SessionRegistry } from './sessions.js';

/** Everything the agent service needs; the composition root (workers/agent.ts) builds it. */
export interface AgentServiceDeps extends Omit<ImportDeps, 'parallelism'>, PushDeps {
  /** Largest chunk sent on a ReadBlob stream. @default 1 MiB */
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

type Call = { getAuthContext(): { sslPeerCertificate?: { subject?: { CN?: string | string[] } } } | null };

/**
 * The caller's node identity: the CN of its verified client certificate. When agents share one certificate
 * (one Secret for the whole DaemonSet) the certificate cannot tell nodes apart and the claimed name is used;
 * without TLS (--insecure-dev) only the claimed name exists.
 */
export function peerIdentity(call: Call, claimed: string, ownIdentity?: string): string {
  const cn = call.getAuthContext()?.sslPeerCertificate?.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (!name || name === ownIdentity) return claimed;
  return name;
}

/** Builds the tote.v1 Agent service: handlers map every failure to a gRPC status code. */
export function createAgentService(deps: AgentServiceDeps): AgentServer {
  const sessions = new SessionRegistry<PrepareExportResponse>({ node: deps.node, now: deps.now });
  const exportDeps: ExportDeps & { slots: ExportSlots } = {
    ...{ store: deps.store, sessions, node: deps.node, chunkSize: deps.chunkSize },
    ...{ maxConcurrentExports: deps.maxConcurrentExports, slots: new ExportSlots(deps.maxConcurrentExports) },
    uploadLimiter: deps.uploadLimiter,
  };
  const importDeps: ImportDeps = { ...deps, parallelism: deps.importParallelism };
  const imports = new KeyedMutex();
  const fail = (rpc: string, err: unknown): Partial<StatusObject> => {
    const s = toStatus(err);
    deps.metrics.errors.inc({ rpc, code: status[s.code ?? status.UNKNOWN] });
    const level = s.code === status.INTERNAL || s.code === status.UNKNOWN ? 'error' : 'warn';
    deps.log[level]({ rpc, code: status[s.code ?? status.UNKNOWN] }, `${rpc} failed: ${s.details}`);
    return s;
  };
  const unary =
    <Req, Res>(rpc: string, fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
      fn(call.request, call).then(
        (res) => cb(null, res),
        (err: unknown) => cb(fail(rpc, err)),
      );
    };
  const stream =
    <Req, Res>(
      rpc: string,
      direction: string,
      fn: (req: Req, call: ServerWritableStream<Req, Res>, signal: AbortSignal) => AsyncIterable<Res>,
    ) =>
    (call: ServerWritableStream<Req, Res>): void => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      deps.metrics.activeTransfers.inc({ direction });
      pipeTo(fn(call.request, call, ac.signal), call, ac.signal)
        .then(
          () => call.end(),
          (err: unknown) =>
            call.emit(
              'error',
              fail(
                rpc,
                ac.signal.aborted ? new AgentError(status.CANCELLED, 'cancelled by the caller') : err,
              ),
            ),
        )
        .finally(() => deps.metrics.activeTransfers.dec({ direction }));
    };
  return {
    listImages: unary('ListImages', async () => ({ images: await listImages(deps.store) })),
    hasImage: unary('HasImage', async (req: { digest: string }) => ({
      ...(await hasImage(deps.store, req.digest)),
      activeExports: exportDeps.slots.streaming,
      maxExports: deps.maxConcurrentExports,
    })),
    resolveTag: unary('ResolveTag', (req: { ref: string }) => resolveTag(deps.store, req.ref)),
    removeImage: unary('RemoveImage', (req: { ref: string }) => removeImage(deps.store, req.ref)),
    prepareExport: unary('PrepareExport', (req) => prepareExport(exportDeps, req)),
    readBlob: stream('ReadBlob', 'export', (req, call, signal) =>
      counted(readBlob(exportDeps, req, peerIdentity(call, req.node, deps.ownIdentity), signal), (n) =>
        deps.metrics.bytesSent.inc(n),
      ),
    ),
    importFrom: stream('ImportFrom', 'import', (req, _call, signal) =>
      channel((emit) => imports.run(req.digest, () => runImport(importDeps, req, emit, signal))),
    ),
    pushImage: stream('PushImage', 'push', (req, _call, signal) =>
      channel((emit) => runPush(deps, req, emit, signal)),
    ),
  };
}

async function* counted<T extends { data: Buffer }>(
  it: AsyncIterable<T>,
  count: (n: number) => void,
): AsyncGenerator<T> {
  for await (const c of it) {
    yield c;
    count(c.data.length);
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

/** Writes every item to the call, waiting for 'drain' when grpc-js's buffer is full (backpressure). */
async function pipeTo<T>(
  items: AsyncIterable<T>,
  call: ServerWritableStream<unknown, T>,
  signal: AbortSignal,
): Promise<void> {
  for await (const item of items) {
    if (!call.write(item)) await once(call, 'drain', { signal });
  }
}
