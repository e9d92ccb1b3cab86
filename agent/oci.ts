import { isDigest } from '../common/digest.js';
import type { Descriptor } from './store.js';

/** Media types of OCI and Docker schema2 images (image-spec v1.1, distribution manifest-v2-2). */
export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

/** A manifest's or index's children: platform manifests, or config then layers. */
export interface Children {
  /** Index entries (with their platform), in order. */
  manifests: Array<Descriptor & { platform?: Platform }>;
  config?: Descriptor;
  layers: Descriptor[];
}

/** The platform of an index entry. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** True for an OCI index or a Docker manifest list. */
export function isIndexType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerList;
}

/** True for an OCI image manifest or a Docker schema2 manifest. */
export function isManifestType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPES.ociManifest || mediaType === MEDIA_TYPES.dockerManifest;
}

/** Anything containerd files under `gc.ref.content.l.`: OCI layers and Docker rootfs diffs. */
function isLayerType(mediaType: string): boolean {
  const base = mediaType.split('+')[0] ?? '';
  return (
    mediaType.startsWith('application/vnd.oci.image.layer.') ||
    base.startsWith('application/vnd.docker.image.rootfs.diff.tar') ||
    base.startsWith('application/vnd.docker.image.rootfs.foreign.diff.tar')
  );
}

/** Thrown when a manifest is not what its descriptor says (bad JSON, bad digests, wrong shape). */
export class ManifestError extends Error {
  override name = 'ManifestError';
}

function descriptor(v: unknown, where: string): Descriptor & { platform?: Platform } {
  const d = v as Record<string, unknown> | null;
  if (!d || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || typeof d.size !== 'number') {
    throw new ManifestError(`${where}: not a descriptor`);
  }
  if (!isDigest(d.digest))
    throw new ManifestError(`${where}: unsupported digest ${JSON.stringify(d.digest)}`);
  if (!Number.isSafeInteger(d.size) || d.size < 0) throw new ManifestError(`${where}: bad size`);
  const out: Descriptor & { platform?: Platform } = {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
  };
  if (d.platform && typeof d.platform === 'object') out.platform = d.platform as Platform;
  return out;
}

/** Parses the children of an index or manifest whose media type is `mediaType`. */
export function parseChildren(mediaType: string, bytes: Uint8Array): Children {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ManifestError(`${mediaType}: invalid JSON`, { cause: err });
  }
  if (isIndexType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw new ManifestError('index without manifests');
    return { manifests: doc.manifests.map((m, i) => descriptor(m, `manifests[${i}]`)), layers: [] };
  }
  if (isManifestType(mediaType)) {
    if (!Array.isArray(doc.layers)) throw new ManifestError('manifest without layers');
    return {
      manifests: [],
      config: descriptor(doc.config, 'config'),
      layers: doc.layers.map((l, i) => descriptor(l, `layers[${i}]`)),
    };
  }
  throw new ManifestError(`unsupported root media type ${mediaType}`);
}

/** The label key prefix containerd's `images.ChildGCLabels` gives a child of this media type. */
function gcPrefix(mediaType: string): string {
  if (mediaType === MEDIA_TYPES.ociConfig || mediaType === MEDIA_TYPES.dockerConfig) {
    return 'containerd.io/gc.ref.content.config';
  }
  if (isManifestType(mediaType)) return 'containerd.io/gc.ref.content.m.';
  if (isLayerType(mediaType)) return 'containerd.io/gc.ref.content.l.';
  return 'containerd.io/gc.ref.content.';
}

/**
 * The garbage-collection labels a parent blob carries so its children survive GC, numbered as containerd's
 * `SetChildrenMappedLabels` does: a prefix ending in "." always gets its counter, others only from the 2nd use.
 */
export function gcLabels(children: Children): Record<string, string> {
  const all = [...children.manifests, ...(children.config ? [children.config] : []), ...children.layers];
  const counters = new Map<string, number>();
  const labels: Record<string, string> = {};
  for (const c of all) {
    const prefix = gcPrefix(c.mediaType);
    const n = counters.get(prefix) ?? 0;
    counters.set(prefix, n + 1);
    const key = prefix.endsWith('.') ? `${prefix}${n}` : n === 0 ? prefix : `${prefix}${n}`;
    labels[key] = c.digest;
  }
  return labels;
}

/** The OCI platform of this process (`os/architecture`), for choosing the CRI id record's config. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
  };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}
