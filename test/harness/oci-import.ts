import { ctr, ctrStream, listImages, type ContainerdNode } from './containerd.js';
import { blobPath, layoutIndex, type Descriptor } from './oci-blobs.js';
import { hostPlatform, type BuiltImage } from './oci-model.js';
import { writeTar, type TarSource } from './oci-tar.js';
import { waitFor } from './ports.js';

/** Options of {@link importToNode}. */
export interface ImportOptions {
  /**
   * Import every platform. By default only what a CRI pull on this node would fetch is imported (the index, the
   * host platform's manifest, config and layers), so the node holds a "sparse" multi-arch image like a real one.
   */
  allPlatforms?: boolean;
  /** Unpack into the node's snapshotter as a pull does. Off by default: unpacking is slow and content-only tests do not need it. */
  unpack?: boolean;
}

function importBlobs(image: BuiltImage, all: boolean): Descriptor[] {
  const host = hostPlatform();
  const chosen = image.platforms.filter(
    (p) =>
      all ||
      image.platforms.length === 1 ||
      (p.platform.os === host.os && p.platform.architecture === host.architecture),
  );
  if (chosen.length === 0)
    throw new Error(
      `image ${image.digest} has no ${host.os}/${host.architecture} manifest; use allPlatforms`,
    );
  const root: Descriptor[] =
    image.platforms.length > 1
      ? [{ mediaType: image.mediaType, digest: image.digest, size: image.size }]
      : [];
  return [...root, ...chosen.flatMap((p) => [p.manifest, p.config, ...p.layers])];
}

/** Repository part of a reference (`host/repo:tag` or `host/repo@digest` → `host/repo`). */
export function repoOf(ref: string): string {
  const noDigest = ref.split('@')[0] ?? ref;
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
}

/**
 * Imports `image` into the node's containerd (namespace `k8s.io`) as image record `ref` (use a fully normalized
 * name, e.g. `docker.io/library/app:1`), via `ctr images import` of a tar of the layout: all blobs are committed
 * with containerd's own GC labels, the record targets the root (index or manifest) digest, and a
 * `<repo>@<root digest>` record is added as a CRI pull would. Resolves once the CRI plugin has seen the image
 * (it then creates the `sha256:<config>` ID record), so CRI ImageStatus finds it.
 */
export async function importToNode(
  node: ContainerdNode,
  image: BuiltImage,
  ref: string,
  opts: ImportOptions = {},
): Promise<void> {
  const blobs = importBlobs(image, opts.allPlatforms ?? false);
  const root: Descriptor = { mediaType: image.mediaType, digest: image.digest, size: image.size };
  const members: TarSource[] = [
    { name: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    // io.containerd.image.name is taken verbatim as the record name by ctr import (no base-name rewriting).
    { name: 'index.json', data: layoutIndex(root, { 'io.containerd.image.name': ref }) },
    ...[...new Set(blobs.map((b) => b.digest))].map((d) => ({
      name: `blobs/sha256/${d.slice(7)}`,
      file: blobPath(image.dir, d),
    })),
  ];
  const flags = [
    ...(opts.allPlatforms ? ['--all-platforms'] : []),
    ...(opts.unpack ? ['--snapshotter', node.snapshotter] : ['--no-unpack']),
  ];
  await ctrStream(node, ['images', 'import', ...flags, '-'], (stdin) => writeTar(stdin, members));
  await ctr(node, ['images', 'tag', '--force', ref, `${repoOf(ref)}@${image.digest}`]);
  const host = hostPlatform();
  const hostImage = image.platforms.find(
    (p) => p.platform.os === host.os && p.platform.architecture === host.architecture,
  );
  if (!hostImage) return;
  const id = hostImage.config.digest;
  await waitFor(`CRI on ${node.name} to record image ${ref} as ${id}`, async () =>
    (await listImages(node)).some((i) => i.name === id),
  );
}
