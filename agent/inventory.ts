import { status } from '@grpc/grpc-js';
import { isDigest } from '../common/digest.js';
import { formatReference, parseImageReference } from '../common/image-ref.js';
import type {
  HasImageResponse,
  ImageSummary,
  RemoveImageResponse,
  ResolveTagResponse,
} from '../proto/gen/tote/v1/agent.js';
import { AgentError, requireDigest } from './errors.js';
import type { Descriptor, ImageRecord, Store } from './store.js';
import { totalSize, walkImage, type ImageGraph } from './walk.js';

/** Walks each distinct target once per call (many records share one target). */
function walker(store: Store): (root: Descriptor) => Promise<ImageGraph> {
  const cache = new Map<string, Promise<ImageGraph>>();
  return (root) => {
    let g = cache.get(root.digest);
    if (!g) cache.set(root.digest, (g = walkImage(store, root)));
    return g;
  };
}

/** ListImages: every record with its target, the size held here and whether it is complete. */
export async function listImages(store: Store): Promise<ImageSummary[]> {
  const walk = walker(store);
  const out: ImageSummary[] = [];
  for (const r of await store.listImages()) {
    const g = await walk(r.target).catch(() => undefined); // an unreadable manifest: list it as incomplete
    out.push({
      name: r.name,
      digest: r.target.digest,
      mediaType: r.target.mediaType,
      size: String(g ? totalSize(g.blobs) : 0),
      complete: g ? g.missing.length === 0 : false,
    });
  }
  return out;
}

/** What the store says about one digest; the server adds the export load (HasImage's other fields). */
export type ImageHolding = Omit<HasImageResponse, 'activeExports' | 'maxExports'>;

/** HasImage: records targeting `digest`, completeness, and what the CRI image service reports. */
export async function hasImage(store: Store, digest: string): Promise<ImageHolding> {
  requireDigest('digest', digest);
  const records = (await store.listImages()).filter((r) => r.target.digest === digest);
  const first = records[0];
  if (!first) {
    return { present: false, complete: false, names: [], missing: [], size: '0', criImageId: '' };
  }
  const g = await walkImage(store, first.target);
  const named = records.find((r) => !r.name.startsWith('sha256:'));
  return {
    present: true,
    complete: g.missing.length === 0,
    names: records.map((r) => r.name),
    missing: g.missing,
    size: String(totalSize(g.blobs)),
    criImageId: (named && (await store.criImageId(named.name))) || '',
  };
}

/** Normalizes a reference as CRI does; INVALID_ARGUMENT when it does not parse. */
function normalize(ref: string): string {
  const parsed = parseImageReference(ref);
  if (!parsed.ok)
    throw new AgentError(status.INVALID_ARGUMENT, `ref ${JSON.stringify(ref)}: ${parsed.error.reason}`);
  return formatReference(parsed.ref);
}

/** ResolveTag: the digest this node's record for `ref` points at; NOT_FOUND if there is none. */
export async function resolveTag(store: Store, ref: string): Promise<ResolveTagResponse> {
  const name = normalize(ref);
  const rec = await store.getImage(name);
  if (!rec) throw new AgentError(status.NOT_FOUND, `no image ${name} on this node`);
  return { name, digest: rec.target.digest, mediaType: rec.target.mediaType };
}

/**
 * RemoveImage: deletes the record named `ref`, or every record of a digest. The CRI id record goes too once
 * no named record points at the image any more (else kubelet would still see it). Blobs are never deleted
 * here: containerd's GC removes only what no remaining image references.
 */
export async function removeImage(store: Store, ref: string): Promise<RemoveImageResponse> {
  const all = await store.listImages();
  let doomed: ImageRecord[];
  if (ref.startsWith('sha256:')) {
    requireDigest('ref', ref);
    doomed = all.filter((r) => r.target.digest === ref || r.name === ref);
  } else {
    const name = normalize(ref);
    doomed = all.filter((r) => r.name === name);
    const target = doomed[0]?.target.digest;
    const others = all.filter((r) => r.target.digest === target && r.name !== name);
    if (target && others.every((r) => isDigest(r.name))) doomed.push(...others);
  }
  if (doomed.length === 0) throw new AgentError(status.NOT_FOUND, `no image ${ref} on this node`);
  const removed: string[] = [];
  for (const r of doomed) if (await store.deleteImage(r.name)) removed.push(r.name);
  return { removed };
}
