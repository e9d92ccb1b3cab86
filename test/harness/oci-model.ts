import type { Descriptor, LayerBlob } from './oci-blobs.js';

/** An OS/architecture pair as in an image index. */
export interface Platform {
  os: string;
  architecture: string;
}

/** What {@link buildImage} makes. Everything is generated locally; nothing is downloaded. */
export interface ImageSpec {
  /** Layers per platform. */
  layers: number;
  /** Bytes of random content in each layer (the gzip'd blob is slightly larger: tar framing, stored blocks). */
  layerSize: number;
  /** Same seed (and spec) gives the same digests. @default a random seed */
  seed?: string;
  /** Reuse this image's first {@link sharedLayers} layer blobs (same digests) as our base layers. */
  shareBaseLayersWith?: BuiltImage;
  /** How many base layers to share. @default min(base layer count, layers - 1) */
  sharedLayers?: number;
  /** Manifest family. @default 'oci' */
  mediaTypes?: 'oci' | 'docker';
  /** More than one gives a multi-arch index (or docker manifest list). @default [host platform] */
  platforms?: Platform[];
  /** Directory name under `<run>/images/`. @default random */
  name?: string;
  /**
   * Make the image runnable: a top layer holds busybox (and a file unique to this image, so no two images share
   * the layer) and the entry point runs `script` in busybox's shell. @default not runnable (entry point /bin/true,
   * which the data layers do not contain)
   */
  app?: { script?: string };
}

/** One platform's manifest, config and layers inside a {@link BuiltImage}. */
export interface PlatformImage {
  platform: Platform;
  manifest: Descriptor;
  config: Descriptor;
  layers: LayerBlob[];
}

/** An image in an OCI image-layout directory (`oci-layout`, `index.json`, `blobs/sha256/...`). */
export interface BuiltImage {
  dir: string;
  /** Root digest: the index/list digest for multi-arch images, else the manifest digest. */
  digest: string;
  /** Root media type. */
  mediaType: string;
  /** Root descriptor size. */
  size: number;
  manifestDigests: string[];
  configDigests: string[];
  /** Distinct layer digests, platform by platform, base layer first. */
  layerDigests: string[];
  /** Sum of the sizes of every distinct blob (root, manifests, configs, layers). */
  totalSize: number;
  flavor: 'oci' | 'docker';
  seed: string;
  platforms: PlatformImage[];
}

/** The platform containerd's default matcher picks on this machine (Go names). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}
