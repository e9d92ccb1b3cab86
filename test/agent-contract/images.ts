import { createHash, randomBytes } from 'node:crypto';
import { MEDIA_TYPES } from '../../agent/oci.js';
import type { FakeStore } from '../../agent/fake-store.js';
import type { Descriptor } from '../../agent/store.js';

/** An image built in memory for agent unit tests: every blob by digest, plus its structure. */
export interface MemImage {
  root: Descriptor;
  blobs: Map<string, Buffer>;
  /** Per platform manifest: its descriptor, config and layers. */
  platforms: Array<{ manifest: Descriptor; config: Descriptor; layers: Descriptor[]; arch: string }>;
}

/** Options of {@link memImage}. */
export interface MemImageOptions {
  /** Layer sizes (random bytes), per platform. @default [1000, 2000] */
  layerSizes?: number[];
  /** Layers reused verbatim (shared base layers). */
  baseLayers?: Buffer[];
  /** Architectures: more than one gives an index. @default ["amd64"] */
  arches?: string[];
  /** Docker schema2 media types instead of OCI. */
  docker?: boolean;
}

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function put(blobs: Map<string, Buffer>, mediaType: string, data: Buffer): Descriptor {
  const d = { mediaType, digest: digestOf(data), size: data.length };
  blobs.set(d.digest, data);
  return d;
}

/** Builds a random image (manifest, or index of manifests) whose bytes are all in memory. */
export function memImage(opts: MemImageOptions = {}): MemImage {
  const t = opts.docker
    ? {
        index: MEDIA_TYPES.dockerList,
        manifest: MEDIA_TYPES.dockerManifest,
        config: MEDIA_TYPES.dockerConfig,
        layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      }
    : {
        index: MEDIA_TYPES.ociIndex,
        manifest: MEDIA_TYPES.ociManifest,
        config: MEDIA_TYPES.ociConfig,
        layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
      };
  const blobs = new Map<string, Buffer>();
  const platforms = (opts.arches ?? ['amd64']).map((arch) => {
    const layerData = [
      ...(opts.baseLayers ?? []),
      ...(opts.layerSizes ?? [1000, 2000]).map((n) => randomBytes(n)),
    ];
    const layers = layerData.map((b) => put(blobs, t.layer, b));
    const config = put(
      blobs,
      t.config,
      Buffer.from(
        JSON.stringify({
          architecture: arch,
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
        }),
      ),
    );
    const manifest = put(
      blobs,
      t.manifest,
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: t.manifest, config, layers })),
    );
    return { manifest, config, layers, arch };
  });
  const first = platforms[0];
  if (!first) throw new Error('no platform');
  const root =
    platforms.length === 1
      ? first.manifest
      : put(
          blobs,
          t.index,
          Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: t.index,
              manifests: platforms.map((p) => ({
                ...p.manifest,
                platform: { os: 'linux', architecture: p.arch },
              })),
            }),
          ),
        );
  return { root, blobs, platforms };
}

/** Puts the image's blobs (all, or those `keep` accepts) and a record `name` into a fake store. */
export function seedImage(
  store: FakeStore,
  img: MemImage,
  name: string,
  keep: (digest: string) => boolean = () => true,
): void {
  for (const [digest, data] of img.blobs) if (keep(digest)) store.seedBlob(data);
  void store.putImage({ name, target: img.root, labels: {} });
}
