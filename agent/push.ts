import { status } from '@grpc/grpc-js';
import { parseImageReference, type ImageReference } from '../common/image-ref.js';
import type { PushImageRequest, PushImageResponse } from '../proto/gen/tote/v1/agent.js';
import { AgentError, requireDigest } from './errors.js';
import type { AgentMetrics } from './metrics.js';
import { isIndexType } from './oci.js';
import { describeError, RegistryHttp, type RegistryResponse } from './registry-http.js';
import type { Descriptor, Store } from './store.js';
import { readSmallBlob, walkImage, type ImageGraph } from './walk.js';

/** What a push needs. */
export interface PushDeps {
  store: Store;
  metrics: AgentMetrics;
  /** PEM CAs trusted besides the public roots for the registry's HTTPS (`--backup-registry-ca`). */
  registryCa?: readonly string[];
}

/** Blobs uploaded at once. */
const PUSH_PARALLELISM = 3;
const SOURCE_LABEL = 'containerd.io/distribution.source.';

function target(req: PushImageRequest): ImageReference {
  const parsed = parseImageReference(req.target);
  if (!parsed.ok)
    throw new AgentError(
      status.INVALID_ARGUMENT,
      `target ${JSON.stringify(req.target)}: ${parsed.error.reason}`,
    );
  if (parsed.ref.digest && parsed.ref.digest !== req.digest) {
    throw new AgentError(
      status.INVALID_ARGUMENT,
      `target is pinned to ${parsed.ref.digest}, not ${req.digest}`,
    );
  }
  return parsed.ref;
}

async function localImage(store: Store, digest: string): Promise<ImageGraph> {
  const record = (await store.listImages()).find((r) => r.target.digest === digest);
  if (!record) throw new AgentError(status.NOT_FOUND, `no image ${digest} on this node`);
  const graph = await walkImage(store, record.target);
  if (graph.missing.length) {
    throw new AgentError(
      status.FAILED_PRECONDITION,
      `image ${digest} is incomplete here: ${graph.missing.length} blob(s) missing`,
    );
  }
  return graph;
}

/** Runs one push: progress counters and the registry calls. */
class Push {
  readonly progress: PushImageResponse;

  private readonly deps: PushDeps;
  private readonly reg: RegistryHttp;
  private readonly ref: ImageReference;
  private readonly emit: (u: PushImageResponse) => void;

  constructor(o: {
    deps: PushDeps;
    reg: RegistryHttp;
    ref: ImageReference;
    emit: (u: PushImageResponse) => void;
    graph: ImageGraph;
  }) {
    this.deps = o.deps;
    this.reg = o.reg;
    this.ref = o.ref;
    this.emit = o.emit;
    const total = o.graph.blobs.reduce((n, b) => n + b.size, 0);
    this.progress = {
      ...{
        blob: '',
        bytesDone: '0',
        bytesTotal: String(total),
        bytesUploaded: '0',
        blobsTotal: o.graph.blobs.length,
      },
      ...{ blobsSkipped: 0, blobsMounted: 0, done: false, pushedDigest: '', pushedRef: '' },
    };
  }

  private advance(d: Descriptor, patch: Partial<PushImageResponse>): void {
    Object.assign(this.progress, patch, { blob: d.digest });
    this.progress.bytesDone = String(Number(this.progress.bytesDone) + d.size);
    this.emit({ ...this.progress });
  }

  /** HEAD, then a cross-repository mount if containerd knows another repository of this registry has it, then upload. */
  async blob(d: Descriptor): Promise<void> {
    const repo = this.ref.repository;
    const head = await this.reg.send({ method: 'HEAD', url: `/v2/${repo}/blobs/${d.digest}` });
    if (head.status === 200) return this.advance(d, { blobsSkipped: this.progress.blobsSkipped + 1 });
    const from = await this.mountSource(d.digest);
    const q = from ? `?mount=${d.digest}&from=${encodeURIComponent(from)}` : '';
    const post = await this.reg.send({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/${q}`,
      contentLength: 0,
      scopes: from ? [`repository:${from}:pull`] : [],
    });
    if (post.status === 201 && from) return this.advance(d, { blobsMounted: this.progress.blobsMounted + 1 });
    const location = post.headers.location;
    if (post.status !== 202 || !location) throw this.fail(`start upload of ${d.digest}`, post);
    if (!URL.canParse(location, post.url.href)) {
      throw new AgentError(
        status.UNAVAILABLE,
        `registry ${this.ref.registry}: start upload of ${d.digest}: unusable Location ${JSON.stringify(location.slice(0, 200))}`,
      );
    }
    const url = new URL(location, post.url);
    url.searchParams.set('digest', d.digest);
    const put = await this.reg.send({
      method: 'PUT',
      url: url.toString(),
      contentLength: d.size,
      headers: { 'content-type': 'application/octet-stream' },
      body: () => this.deps.store.read(d.digest),
    });
    if (put.status !== 201) throw this.fail(`upload ${d.digest}`, put);
    this.deps.metrics.bytesPushed.inc(d.size);
    this.advance(d, { bytesUploaded: String(Number(this.progress.bytesUploaded) + d.size) });
  }

  /** PUT a manifest or index under `reference` (a digest, or the tag for the root). */
  async manifest(d: Descriptor, bytes: Buffer, reference: string): Promise<void> {
    const res = await this.reg.send({
      method: 'PUT',
      url: `/v2/${this.ref.repository}/manifests/${reference}`,
      body: bytes,
      contentLength: bytes.length,
      headers: { 'content-type': d.mediaType },
    });
    if (res.status !== 201) throw this.fail(`put manifest ${reference}`, res);
    const stored = res.headers['docker-content-digest'];
    if (stored && stored !== d.digest) {
      throw new AgentError(
        status.DATA_LOSS,
        `registry ${this.ref.registry} stored ${reference} as ${String(stored)}, not ${d.digest}`,
      );
    }
    this.advance(d, {});
  }

  private async mountSource(digest: string): Promise<string | undefined> {
    const labels = (await this.deps.store.info(digest))?.labels ?? {};
    const repos = labels[`${SOURCE_LABEL}${this.ref.registry}`]?.split(',') ?? [];
    return repos.find((r) => r && r !== this.ref.repository);
  }

  private fail(what: string, res: RegistryResponse): AgentError {
    const code =
      res.status === 404
        ? status.NOT_FOUND
        : res.status === 429
          ? status.RESOURCE_EXHAUSTED
          : status.UNAVAILABLE;
    return new AgentError(code, `registry ${this.ref.registry}: ${what}: ${describeError(res)}`);
  }
}

async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(n, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

/**
 * PushImage: blobs first (existence check, mount or streamed upload straight from containerd), then every
 * platform manifest by digest, then the root under the tag, as containerd's pusher orders them. An index whose
 * platform manifests are not all held here is refused: push a platform manifest's digest instead.
 */
export async function runPush(
  deps: PushDeps,
  req: PushImageRequest,
  emit: (u: PushImageResponse) => void,
  signal?: AbortSignal,
): Promise<void> {
  requireDigest('digest', req.digest);
  const ref = target(req);
  const graph = await localImage(deps.store, req.digest);
  const creds = req.credentials ?? {};
  const reg = new RegistryHttp(ref.registry, ref.repository, creds, {
    insecure: req.insecure,
    ca: deps.registryCa,
  });
  reg.signal = signal;
  const push = new Push({ deps, reg, ref, emit, graph });
  const manifests = [...graph.parents.keys()];
  const leaves = graph.blobs.filter((b) => !graph.parents.has(b.digest));
  const held = new Set(manifests);
  const absent = [...graph.parents.values()].flatMap((c) => c.manifests).filter((m) => !held.has(m.digest));
  if (isIndexType(graph.root.mediaType) && absent.length) {
    throw new AgentError(
      status.FAILED_PRECONDITION,
      `index ${req.digest} lists ${absent.length} platform manifest(s) this node does not hold; push a platform manifest digest instead`,
    );
  }
  await pool(leaves, PUSH_PARALLELISM, (d) => {
    signal?.throwIfAborted();
    return push.blob(d);
  });
  // Children before parents: the registry may refuse an index whose manifests it does not know.
  for (const d of graph.blobs.filter((b) => held.has(b.digest)).reverse()) {
    const root = d.digest === req.digest;
    await push.manifest(
      d,
      await readSmallBlob(deps.store, d.digest),
      root ? (ref.tag ?? d.digest) : d.digest,
    );
  }
  const pushedRef = `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : `@${req.digest}`}`;
  emit({ ...push.progress, done: true, pushedDigest: req.digest, pushedRef });
}
