import { status } from '@grpc/grpc-js';
import { parseImageReference } from '../common/image-ref.js';
import { ImportPhase, type ImportFromRequest, type ImportFromResponse } from '../proto/gen/tote/v1/agent.js';
import { copyBlob, writeBytes } from './blob-copy.js';
import { AgentError, requireDigest } from './errors.js';
import type { AgentLogger } from './logger.js';
import type { AgentMetrics } from './metrics.js';
import { gcLabels, hostPlatform } from './oci.js';
import type { PeerDialer } from './peer.js';
import { planImport, type ImportPlan, type SourceLink } from './plan.js';
import { criRecordNames, writeRecords } from './records.js';
import type { Descriptor, Store } from './store.js';
import { configFor } from './walk.js';

/** What an import needs. */
export interface ImportDeps {
  store: Store;
  dial: PeerDialer;
  /** This node's name (sessions on the sources are bound to it). */
  node: string;
  /** Largest image accepted, in bytes. */
  maxImageSize: number;
  /** Blobs transferred at once. @default 4 */
  parallelism?: number;
  /** Lifetime of the import lease if the agent dies mid-way (GC then reclaims the partial blobs). @default 24h */
  leaseTtlMs?: number;
  metrics: AgentMetrics;
  log: AgentLogger;
}

/** Sends one progress update to the caller. */
export type Emit = (update: ImportFromResponse) => void;

const PROGRESS_EVERY_BYTES = 8 << 20;

/** Validates an ImportFrom request before anything is touched; INVALID_ARGUMENT names the field. */
export function checkImportRequest(req: ImportFromRequest): void {
  requireDigest('digest', req.digest);
  if (!req.token) throw new AgentError(status.INVALID_ARGUMENT, 'token is required');
  if (req.sources.length === 0) throw new AgentError(status.INVALID_ARGUMENT, 'sources must not be empty');
  for (const s of req.sources) {
    if (!s.address) throw new AgentError(status.INVALID_ARGUMENT, `sources: node ${s.node} has no address`);
  }
  criRecordNames(req.names, req.digest);
}

/** Progress counters and throttled emission (every blob, and every few MiB). */
class Progress {
  readonly update: ImportFromResponse;
  private lastEmitted = 0;

  constructor(
    private readonly emit: Emit,
    plan: ImportPlan,
  ) {
    const blobsTotal = plan.leaves.length + plan.manifests.length;
    this.update = {
      phase: ImportPhase.IMPORT_PHASE_TRANSFERRING,
      ...{ blob: '', source: '', bytesDone: '0', bytesTotal: String(plan.totalSize), bytesReceived: '0' },
      ...{ blobsTotal, blobsDone: 0, blobsSkipped: 0, names: [] },
    };
  }

  bytes(n: number, blob: string): void {
    this.update.bytesReceived = String(Number(this.update.bytesReceived) + n);
    this.update.bytesDone = String(Number(this.update.bytesDone) + n);
    if (Number(this.update.bytesReceived) - this.lastEmitted >= PROGRESS_EVERY_BYTES) this.send({ blob });
  }

  blobDone(d: Descriptor, how: { skipped: boolean; received: number; source?: string }): void {
    this.update.blobsDone++;
    if (how.skipped) this.update.blobsSkipped++;
    // Bytes not received in this call were already here (skipped or resumed).
    this.update.bytesDone = String(Number(this.update.bytesDone) + d.size - how.received);
    this.send({ blob: d.digest, source: how.source ?? '' });
  }

  send(patch: Partial<ImportFromResponse>): void {
    Object.assign(this.update, patch);
    this.lastEmitted = Number(this.update.bytesReceived);
    this.emit({ ...this.update, names: [...this.update.names] });
  }
}

/** Runs `fn` over `items` with at most `n` at once; stops taking new items after the first failure. */
async function pool<T>(
  items: readonly T[],
  n: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const i = next++;
      await fn(items[i] as T, i).catch((err: unknown) => {
        failure ??= { err };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure.err;
}

/** Sources for the i-th blob: live ones first, rotated so parallel blobs spread over the sources. */
function rotate(links: readonly SourceLink[], down: ReadonlySet<string>, i: number): SourceLink[] {
  const live = links.filter((l) => !down.has(l.node));
  const k = live.length ? i % live.length : 0;
  return [...live.slice(k), ...live.slice(0, k), ...links.filter((l) => down.has(l.node))];
}

async function transfer(
  deps: ImportDeps,
  req: ImportFromRequest,
  plan: ImportPlan,
  ctx: { lease: string; progress: Progress; signal?: AbortSignal },
): Promise<void> {
  const down = new Set<string>();
  const leaves = [...plan.leaves].sort((a, b) => b.size - a.size); // big blobs first: better packing
  await pool(leaves, deps.parallelism ?? 4, async (desc, i) => {
    const result = await copyBlob({
      store: deps.store,
      desc,
      lease: ctx.lease,
      labels: {},
      sources: rotate(plan.sources, down, i),
      token: req.token,
      node: deps.node,
      signal: ctx.signal,
      onBytes: (n) => {
        deps.metrics.bytesReceived.inc(n);
        ctx.progress.bytes(n, desc.digest);
      },
      onSourceFailed: (node, err) => {
        down.add(node);
        deps.log.warn(
          { source: node, blob: desc.digest, code: status[err.code] },
          `source failed: ${err.message}`,
        );
      },
    });
    if (result.skipped) deps.metrics.blobsSkipped.inc();
    ctx.progress.blobDone(desc, result);
  });
  for (const m of plan.manifests) {
    const written = await writeBytes(deps.store, m.desc, m.bytes, {
      labels: gcLabels(m.children),
      lease: ctx.lease,
    });
    if (!written) deps.metrics.blobsSkipped.inc();
    ctx.progress.blobDone(m.desc, { skipped: !written, received: 0 });
  }
}

/** The names to record: the caller's, else the source's own (those that parse as references). */
function namesFor(req: ImportFromRequest, plan: ImportPlan): string[] {
  const given = req.names.length
    ? req.names
    : plan.sourceNames.filter((n) => !n.startsWith('sha256:') && parseImageReference(n).ok);
  return criRecordNames(given, req.digest, configFor(plan.parents, plan.root, hostPlatform()));
}

/**
 * ImportFrom: plan from the sources, transfer the missing blobs under a lease (leaves first, then manifests
 * and indexes with their GC labels), then create the image records, then drop the lease. A failure leaves no
 * record, only committed verified blobs and resumable ingests under the lease (which expires).
 */
export async function runImport(
  deps: ImportDeps,
  req: ImportFromRequest,
  emit: Emit,
  signal?: AbortSignal,
): Promise<void> {
  checkImportRequest(req);
  emit({
    phase: ImportPhase.IMPORT_PHASE_PLANNING,
    blob: '',
    source: '',
    bytesDone: '0',
    bytesTotal: '0',
    bytesReceived: '0',
    blobsTotal: 0,
    blobsDone: 0,
    blobsSkipped: 0,
    names: [],
  });
  const plan = await planImport({
    token: req.token,
    digest: req.digest,
    node: deps.node,
    sources: req.sources,
    dial: deps.dial,
    store: deps.store,
    signal,
  });
  try {
    if (plan.totalSize > deps.maxImageSize) {
      throw new AgentError(
        status.FAILED_PRECONDITION,
        `image ${req.digest} is ${plan.totalSize} bytes, over the limit of ${deps.maxImageSize} (--max-image-size)`,
      );
    }
    const names = namesFor(req, plan);
    const lease = `tote-import-${req.digest.slice('sha256:'.length)}`;
    await deps.store.createLease(lease, deps.leaseTtlMs ?? 24 * 3600_000);
    const progress = new Progress(emit, plan);
    progress.send({});
    await transfer(deps, req, plan, { lease, progress, signal });
    progress.send({ phase: ImportPhase.IMPORT_PHASE_RECORDING, blob: '', source: '' });
    await writeRecords(deps.store, names, plan.root, lease);
    await deps.store.deleteLease(lease);
    progress.send({ phase: ImportPhase.IMPORT_PHASE_DONE, names });
  } finally {
    for (const s of plan.sources) s.peer.close();
  }
}
