import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  linkSync,
  copyFileSync,
  mkdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { tarHeader, tarPadding, tarTrailer } from './oci-tar.js';

/** Media types of the two manifest families the fixture builder writes. */
export const MEDIA_TYPES = {
  oci: {
    index: 'application/vnd.oci.image.index.v1+json',
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
  docker: {
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
} as const;

/** An OCI content descriptor (the subset the builder writes). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

/** A layer blob plus the digest of its uncompressed tar (the config's `rootfs.diff_ids` entry). */
export interface LayerBlob extends Descriptor {
  diffId: string;
}

/** Path of a blob inside an OCI image layout directory. */
export function blobPath(layoutDir: string, digest: string): string {
  const [alg = '', hex = ''] = digest.split(':');
  if (!alg || !hex) throw new Error(`not a digest: ${digest}`);
  return path.join(layoutDir, 'blobs', alg, hex);
}

/** Writes the `oci-layout` marker and the blob directory of an image layout. */
export function initLayout(dir: string): void {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

/** Serializes `value` once and stores the exact bytes as a blob: the digest is over these bytes. */
export function writeJsonBlob(layoutDir: string, mediaType: string, value: unknown): Descriptor {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  writeFileSync(blobPath(layoutDir, digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

/** The bytes of an image layout's `index.json` with one entry, `root` (annotated, e.g. with a ref name). */
export function layoutIndex(root: Descriptor, annotations?: Record<string, string>): Buffer {
  const entry = { mediaType: root.mediaType, digest: root.digest, size: root.size, annotations };
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.oci.index, manifests: [entry] }),
  );
}

/** A 32-byte key for the layer stream cipher, derived from the image seed and the layer's coordinates. */
export function layerKey(seed: string, label: string): Buffer {
  return createHash('sha256').update(`${seed}\0${label}`).digest();
}

/** A fresh random seed, for images whose content only needs to be unique. */
export function randomSeed(): string {
  return randomBytes(16).toString('hex');
}

const CHUNK = 1 << 20;

/**
 * The uncompressed layer tar: one file of `size` pseudo-random bytes. AES-256-CTR over zeros is a seeded,
 * incompressible stream at well over 1 GB/s, so big layers are quick to make and the same seed gives the same
 * bytes; chunks are produced lazily so memory stays at one chunk whatever the layer size.
 */
async function* layerTar(key: Buffer, fileName: string, size: number): AsyncGenerator<Buffer> {
  yield tarHeader({ name: fileName, size });
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  for (let left = size; left > 0; left -= CHUNK) {
    yield cipher.update(left >= CHUNK ? zeros : zeros.subarray(0, left));
  }
  yield tarPadding(size);
  yield tarTrailer();
}

/** Options of {@link writeLayer}. */
export interface LayerOptions {
  layoutDir: string;
  key: Buffer;
  fileName: string;
  size: number;
  mediaType: string;
}

/**
 * Streams one gzip'd layer into the layout's blob directory and returns its descriptor and diff ID.
 * gzip runs at level 0 (stored blocks): random data would not shrink anyway, and deflate's match search
 * would make a 512 MiB layer cost seconds of CPU for nothing. The result is still a valid gzip stream.
 */
export async function writeLayer(opts: LayerOptions): Promise<LayerBlob> {
  const diffHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let size = 0;
  const tmp = path.join(opts.layoutDir, 'blobs', `.tmp-${randomBytes(6).toString('hex')}`);
  await pipeline(
    async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of layerTar(opts.key, opts.fileName, opts.size)) {
        diffHash.update(chunk);
        yield chunk;
      }
    },
    createGzip({ level: 0 }),
    async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        blobHash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(tmp),
  );
  const digest = `sha256:${blobHash.digest('hex')}`;
  renameSync(tmp, blobPath(opts.layoutDir, digest));
  return { mediaType: opts.mediaType, digest, size, diffId: `sha256:${diffHash.digest('hex')}` };
}

/** Makes `digest` from layout `from` present in layout `to` (hard link when possible, else a copy). */
export function shareBlob(from: string, to: string, digest: string): void {
  const dst = blobPath(to, digest);
  if (existsSync(dst)) return;
  try {
    linkSync(blobPath(from, digest), dst);
  } catch {
    copyFileSync(blobPath(from, digest), dst);
  }
}
