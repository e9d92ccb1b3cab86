/**
 * Fixture images, written by the project (no downloads): build in an OCI image layout ({@link buildImage}), import
 * into a node's containerd ({@link importToNode}), push to / pull from the sandbox registry ({@link pushToRegistry}).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  MEDIA_TYPES,
  initLayout,
  layerKey,
  layoutIndex,
  randomSeed,
  shareBlob,
  writeJsonBlob,
  writeLayer,
  type Descriptor,
  type LayerBlob,
} from './oci-blobs.js';
import {
  hostPlatform,
  type BuiltImage,
  type ImageSpec,
  type Platform,
  type PlatformImage,
} from './oci-model.js';
import { appEntrypoint, serveScript, writeAppLayer } from './oci-app.js';
import type { Run } from './run.js';

export {
  hostPlatform,
  type BuiltImage,
  type ImageSpec,
  type Platform,
  type PlatformImage,
} from './oci-model.js';
export { importToNode, repoOf, type ImportOptions } from './oci-import.js';
export { buildSandboxImage, SANDBOX_IMAGE, serveScript } from './oci-app.js';
export { inspectRaw, pullFromRegistry, pushToRegistry, type PushOptions } from './oci-skopeo.js';

function sameBaseLayer(base: BuiltImage, p: Platform, i: number): LayerBlob {
  const match = base.platforms.find(
    (b) => b.platform.os === p.os && b.platform.architecture === p.architecture,
  );
  const layer = (match ?? base.platforms[0])?.layers[i];
  if (!layer) throw new Error(`base image ${base.dir} has no layer ${i} to share`);
  return layer;
}

interface PlatformBuild {
  dir: string;
  spec: ImageSpec;
  seed: string;
  platform: Platform;
}

async function buildPlatform(b: PlatformBuild): Promise<PlatformImage> {
  const types = MEDIA_TYPES[b.spec.mediaTypes ?? 'oci'];
  const base = b.spec.shareBaseLayersWith;
  const shared = base
    ? (b.spec.sharedLayers ?? Math.min(base.platforms[0]?.layers.length ?? 0, b.spec.layers - 1))
    : 0;
  const label = `${b.platform.os}/${b.platform.architecture}`;
  const layers: LayerBlob[] = [];
  for (let i = 0; i < b.spec.layers; i++) {
    if (base && i < shared) {
      const l = sameBaseLayer(base, b.platform, i);
      shareBlob(base.dir, b.dir, l.digest);
      layers.push({ ...l, mediaType: types.layer });
      continue;
    }
    const key = layerKey(b.seed, `${label}/layer-${i}`);
    layers.push(
      await writeLayer({
        layoutDir: b.dir,
        key,
        fileName: `layer-${i}.bin`,
        size: b.spec.layerSize,
        mediaType: types.layer,
      }),
    );
  }
  const app = b.spec.app;
  if (app) {
    layers.push(
      writeAppLayer(b.dir, types.layer, [{ name: 'etc/tote-fixture', data: Buffer.from(`${b.seed}\n`) }]),
    );
  }
  const labels = { 'tote.test/seed': b.seed };
  const run = app
    ? { Entrypoint: appEntrypoint(app.script ?? serveScript(`tote fixture ${b.seed.slice(0, 12)}: up`)) }
    : { Cmd: ['/bin/true'] };
  const config = writeJsonBlob(b.dir, types.config, {
    created: '1970-01-01T00:00:00Z',
    architecture: b.platform.architecture,
    os: b.platform.os,
    // The seed label keeps configs (and so image IDs) distinct even when two images share every layer.
    config: { Env: ['PATH=/usr/bin:/bin'], ...run, Labels: labels },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
  const manifest = writeJsonBlob(b.dir, types.manifest, {
    schemaVersion: 2,
    mediaType: types.manifest,
    config,
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
  });
  return { platform: b.platform, manifest, config, layers };
}

/** Builds a fixture image in `<run>/images/<name>` as an OCI image layout. Big layers are streamed to disk. */
export async function buildImage(run: Run, spec: ImageSpec): Promise<BuiltImage> {
  const flavor = spec.mediaTypes ?? 'oci';
  const dir = run.path('images', spec.name ?? randomBytes(6).toString('hex'));
  const seed = spec.seed ?? randomSeed();
  const platformList = spec.platforms ?? [hostPlatform()];
  initLayout(dir);
  const platforms: PlatformImage[] = [];
  for (const platform of platformList) platforms.push(await buildPlatform({ dir, spec, seed, platform }));
  if (!platforms[0]) throw new Error('an image needs at least one platform');
  let root: Descriptor = platforms[0].manifest;
  if (platforms.length > 1) {
    root = writeJsonBlob(dir, MEDIA_TYPES[flavor].index, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES[flavor].index,
      manifests: platforms.map((p) => ({ ...p.manifest, platform: p.platform })),
    });
  }
  writeLayoutIndex(dir, root);
  const layerDigests = [...new Set(platforms.flatMap((p) => p.layers.map((l) => l.digest)))];
  const blobs = new Map<string, number>([[root.digest, root.size]]);
  for (const p of platforms) {
    for (const d of [p.manifest, p.config, ...p.layers]) blobs.set(d.digest, d.size);
  }
  return {
    dir,
    digest: root.digest,
    mediaType: root.mediaType,
    size: root.size,
    manifestDigests: platforms.map((p) => p.manifest.digest),
    configDigests: platforms.map((p) => p.config.digest),
    layerDigests,
    totalSize: [...blobs.values()].reduce((a, b) => a + b, 0),
    flavor,
    seed,
    platforms,
  };
}

function writeLayoutIndex(dir: string, root: Descriptor): void {
  writeFileSync(path.join(dir, 'index.json'), layoutIndex(root));
}
