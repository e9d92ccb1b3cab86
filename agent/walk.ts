import { isIndexType, isManifestType, parseChildren, type Children, type Platform } from './oci.js';
import { StoreError, type Descriptor, type Store } from './store.js';

/** Manifests and indexes are small; anything bigger is refused rather than buffered. @default 4 MiB */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** An image as held by one store: which blobs are present and which are referenced but absent. */
export interface ImageGraph {
  root: Descriptor;
  /** Blobs present, root first, each once (layers shared by platforms appear once). */
  blobs: Descriptor[];
  /** Digests referenced by a held manifest but absent (e.g. discarded unpacked layers). */
  missing: string[];
  /** Parsed children of every index and manifest held, by digest. */
  parents: Map<string, Children>;
}

/** Reads a whole (small) blob into memory; refuses more than `max` bytes. */
export async function readSmallBlob(store: Store, digest: string, max = MAX_MANIFEST_BYTES): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of store.read(digest)) {
    total += chunk.length;
    if (total > max) throw new StoreError('invalid', `${digest} is larger than ${max} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/**
 * Walks an image from its root: index → the platform manifests held here → config and layers. Platform
 * manifests absent from the store are platforms this node never pulled, not missing blobs; but a held manifest
 * must have its config and every layer, and an index must have at least one platform.
 */
export async function walkImage(store: Store, root: Descriptor): Promise<ImageGraph> {
  const graph: ImageGraph = { root, blobs: [], missing: [], parents: new Map() };
  const seen = new Set<string>();
  const visit = async (d: Descriptor, optional: boolean): Promise<boolean> => {
    if (seen.has(d.digest)) return true;
    seen.add(d.digest);
    const info = await store.info(d.digest);
    if (!info || info.size !== d.size) {
      if (!optional) graph.missing.push(d.digest);
      return false;
    }
    graph.blobs.push(d);
    if (isIndexType(d.mediaType) || isManifestType(d.mediaType)) await visitChildren(d);
    return true;
  };
  const visitChildren = async (d: Descriptor): Promise<void> => {
    const children = parseChildren(d.mediaType, await readSmallBlob(store, d.digest));
    graph.parents.set(d.digest, children);
    let held = 0;
    for (const m of children.manifests) if (await visit(m, true)) held++;
    if (children.manifests.length > 0 && held === 0) {
      graph.missing.push(...children.manifests.map((m) => m.digest));
    }
    for (const c of [...(children.config ? [children.config] : []), ...children.layers])
      await visit(c, false);
  };
  await visit(root, false);
  return graph;
}

/** Sum of the sizes of the blobs in `blobs`. */
export function totalSize(blobs: readonly Descriptor[]): number {
  return blobs.reduce((n, b) => n + b.size, 0);
}

/**
 * The config digest of the platform manifest matching `platform` (the first held match, as the image spec
 * says), or of the root manifest; CRI names its id record `sha256:<config digest>` after it.
 */
export function configFor(
  parents: ReadonlyMap<string, Children>,
  root: Descriptor,
  platform: Platform,
): string | undefined {
  const children = parents.get(root.digest);
  if (!children) return undefined;
  if (children.config) return children.config.digest;
  for (const m of children.manifests) {
    const p = m.platform;
    const matches = !p || (p.os === platform.os && p.architecture === platform.architecture);
    if (matches && parents.has(m.digest)) {
      const found = configFor(parents, m, platform);
      if (found) return found;
    }
  }
  return undefined;
}
