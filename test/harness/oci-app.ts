/**
 * Images that run: one layer holding Debian's static busybox (unpacked from the `busybox-static` package by
 * hack/setup-tools.sh) whose shell is the entry point. Fixture images add it on top of their data layers
 * ({@link ImageSpec.app}); the pod sandbox image every node's containerd starts pods with is made of it alone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { blobPath, initLayout, layoutIndex, writeJsonBlob, type LayerBlob } from './oci-blobs.js';
import { hostPlatform, type BuiltImage } from './oci-model.js';
import { tarHeader, tarPadding, tarTrailer } from './oci-tar.js';
import type { Run } from './run.js';
import { toolPath } from './tools.js';

/** The image reference every node's containerd uses as its pod sandbox image (`sandbox_image`). */
export const SANDBOX_IMAGE = 'tote.local/sandbox:1';

/** The path of the busybox binary inside every app layer. */
export const BUSYBOX = '/bin/busybox';

/**
 * A shell loop that prints `line`, then waits for SIGTERM (busybox `sleep` in the background, so the trap runs at
 * once: as PID 1 the shell would otherwise ignore the signal and make every pod deletion wait out its grace period).
 */
export function serveScript(line: string): string {
  return `trap 'exit 0' TERM INT; echo '${line.replace(/'/g, '')}'; while :; do ${BUSYBOX} sleep 3600 & wait $!; done`;
}

/** The entry point of an app image: busybox's shell running `script`. */
export function appEntrypoint(script: string): string[] {
  return [BUSYBOX, 'sh', '-c', script];
}

/**
 * Writes the app layer into an image layout: `bin/busybox` (mode 0755) plus `extra` small files, gzip'd. The same
 * busybox and extras give the same digest; a per-image file in `extra` keeps images from sharing the layer.
 */
export function writeAppLayer(
  layoutDir: string,
  mediaType: string,
  extra: { name: string; data: Buffer }[] = [],
): LayerBlob {
  const busybox = readFileSync(toolPath('busybox'));
  const parts: Buffer[] = [];
  for (const f of [{ name: BUSYBOX.slice(1), data: busybox, mode: 0o755 }, ...extra]) {
    parts.push(tarHeader({ name: f.name, size: f.data.length, mode: 'mode' in f ? f.mode : 0o644 }));
    parts.push(f.data, tarPadding(f.data.length));
  }
  parts.push(tarTrailer());
  const tar = Buffer.concat(parts);
  const blob = gzipSync(tar);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const tmp = path.join(layoutDir, 'blobs', `.tmp-${randomBytes(6).toString('hex')}`);
  writeFileSync(tmp, blob);
  renameSync(tmp, blobPath(layoutDir, digest));
  return {
    mediaType,
    digest,
    size: blob.length,
    diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}`,
  };
}

/**
 * Builds the pod sandbox image (busybox waiting for SIGTERM) in `<run>/images/sandbox`: the stand-in for
 * `registry.k8s.io/pause`, which cannot be downloaded here. Deterministic: every run makes the same digest.
 */
export function buildSandboxImage(run: Run): BuiltImage {
  const dir = run.path('images', 'sandbox');
  initLayout(dir);
  const layer = writeAppLayer(dir, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const platform = hostPlatform();
  const config = writeJsonBlob(dir, 'application/vnd.oci.image.config.v1+json', {
    created: '1970-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    config: {
      Env: ['PATH=/bin'],
      Entrypoint: appEntrypoint(serveScript('tote sandbox')),
      Labels: { 'tote.test/role': 'pod-sandbox' },
    },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  });
  const manifest = writeJsonBlob(dir, 'application/vnd.oci.image.manifest.v1+json', {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config,
    layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
  });
  writeFileSync(path.join(dir, 'index.json'), layoutIndex(manifest));
  return {
    dir,
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    size: manifest.size,
    manifestDigests: [manifest.digest],
    configDigests: [config.digest],
    layerDigests: [layer.digest],
    totalSize: manifest.size + config.size + layer.size,
    flavor: 'oci',
    seed: 'sandbox',
    platforms: [{ platform, manifest, config, layers: [layer] }],
  };
}
