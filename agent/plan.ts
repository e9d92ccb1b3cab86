import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { PrepareExportResponse, Source } from '../proto/gen/tote/v1/agent.js';
import { AgentError, grpcCode, toAgentError } from './errors.js';
import { isIndexType, isManifestType, parseChildren, type Children } from './oci.js';
import type { Peer, PeerDialer } from './peer.js';
import type { Descriptor, Store } from './store.js';
import { MAX_MANIFEST_BYTES, readSmallBlob } from './walk.js';

/** A source agent that answered PrepareExport, and the blobs it said it holds. */
export interface SourceLink {
  node: string;
  peer: Peer;
  blobs: ReadonlySet<string>;
}

/** What an import will write: manifests (children before parents) with their bytes, then the leaf blobs. */
export interface ImportPlan {
  root: Descriptor;
  manifests: Array<{ desc: Descriptor; bytes: Buffer; children: Children }>;
  /** Configs and layers, each once. */
  leaves: Descriptor[];
  parents: Map<string, Children>;
  sources: SourceLink[];
  /** Record names the first source has for the image. */
  sourceNames: string[];
  totalSize: number;
}

/** Options of {@link planImport}. */
export interface PlanOptions {
  token: string;
  digest: string;
  /** This (target) node's name, as the sessions are bound to it. */
  node: string;
  sources: readonly Source[];
  dial: PeerDialer;
  store: Store;
  signal?: AbortSignal;
}

export function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function describe(opts: PlanOptions, source: Source): Promise<[SourceLink, PrepareExportResponse]> {
  const peer = opts.dial(source);
  try {
    const session = {
      token: opts.token,
      digest: opts.digest,
      sourceNode: source.node,
      targetNode: opts.node,
      ttlSeconds: 0,
    };
    const res = await peer.prepareExport({ session, digest: opts.digest }, opts.signal);
    return [{ node: source.node, peer, blobs: new Set(res.blobs.map((b) => b.digest)) }, res];
  } catch (err) {
    peer.close();
    throw new AgentError(
      grpcCode(err) ?? status.UNAVAILABLE,
      `source ${source.node}: ${toAgentError(err).message}`,
    );
  }
}

/** Reads at most `max` bytes of a blob from one source (a few more mean "too long"). */
async function collect(opts: PlanOptions, link: SourceLink, d: Descriptor, max: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let n = 0;
  const req = { token: opts.token, digest: d.digest, offset: '0', node: opts.node };
  for await (const c of link.peer.readBlob(req, opts.signal)) {
    n += c.data.length;
    if (n > max) break;
    parts.push(c.data);
  }
  return Buffer.concat(parts);
}

/** Reads a manifest from the first source that has it, verifying size and digest. */
async function fetchSmall(opts: PlanOptions, links: SourceLink[], d: Descriptor): Promise<Buffer> {
  let last: AgentError = new AgentError(status.FAILED_PRECONDITION, `no source holds ${d.digest}`);
  for (const link of links.filter((l) => l.blobs.has(d.digest))) {
    try {
      const bytes = await collect(opts, link, d, Math.min(d.size, MAX_MANIFEST_BYTES));
      if (bytes.length === d.size && sha256(bytes) === d.digest) return bytes;
      last = new AgentError(status.DATA_LOSS, `${d.digest} from ${link.node} failed digest verification`);
    } catch (err) {
      last = toAgentError(err);
    }
  }
  throw last;
}

/**
 * Asks every source to describe the image (registering the session if the caller did not), checks the root
 * against the requested digest, and walks the graph: the platforms some source holds, their configs and layers.
 */
export async function planImport(opts: PlanOptions): Promise<ImportPlan> {
  const answers = await Promise.allSettled(opts.sources.map((s) => describe(opts, s)));
  const ok = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
  const rootAnswer = ok.find(([, res]) => sha256(res.manifest) === opts.digest);
  if (!rootAnswer) {
    for (const [link] of ok) link.peer.close();
    const errors = answers.flatMap((a) => (a.status === 'rejected' ? [toAgentError(a.reason)] : []));
    const code = errors[0]?.code ?? status.DATA_LOSS;
    const why = errors.length
      ? errors.map((e) => e.message).join('; ')
      : 'no source sent a manifest matching the digest';
    throw new AgentError(code, `no usable source for ${opts.digest}: ${why}`);
  }
  const [first, res] = rootAnswer;
  const links = ok.map(([l]) => l);
  const root = { mediaType: res.mediaType, digest: opts.digest, size: res.manifest.length };
  const plan: ImportPlan = {
    root,
    manifests: [],
    leaves: [],
    parents: new Map(),
    sources: links,
    sourceNames: res.names,
    totalSize: 0,
  };
  const seen = new Set<string>();
  const visit = async (d: Descriptor, bytes: Buffer): Promise<void> => {
    const children = parseChildren(d.mediaType, bytes);
    plan.parents.set(d.digest, children);
    for (const m of children.manifests) {
      if (seen.has(m.digest) || !(isIndexType(m.mediaType) || isManifestType(m.mediaType))) continue;
      const local = await opts.store.info(m.digest);
      if (!local && !links.some((l) => l.blobs.has(m.digest))) continue; // a platform no source holds
      seen.add(m.digest);
      await visit(m, local ? await readSmallBlob(opts.store, m.digest) : await fetchSmall(opts, links, m));
    }
    for (const leaf of [...(children.config ? [children.config] : []), ...children.layers]) {
      if (!seen.has(leaf.digest)) plan.leaves.push(leaf);
      seen.add(leaf.digest);
    }
    plan.manifests.push({ desc: d, bytes, children });
  };
  await visit(root, Buffer.from(res.manifest));
  if (isIndexType(root.mediaType) && plan.manifests.length === 1) {
    throw new AgentError(
      status.FAILED_PRECONDITION,
      `no source holds any platform of index ${opts.digest} (${first.node})`,
    );
  }
  plan.totalSize = [...plan.manifests.map((m) => m.desc), ...plan.leaves].reduce((n, b) => n + b.size, 0);
  return plan;
}
