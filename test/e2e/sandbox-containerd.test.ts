import {
  ctr,
  gc,
  listContent,
  listImages,
  startContainerdNode,
  type ContainerdNode,
} from '../harness/containerd.js';
import { buildImage, hostPlatform, importToNode, type BuiltImage } from '../harness/images.js';
import { MEDIA_TYPES } from '../harness/oci-blobs.js';
import { Run } from '../harness/run.js';

const MiB = 1 << 20;
const otherPlatform = {
  os: 'linux',
  architecture: hostPlatform().architecture === 'arm64' ? 'amd64' : 'arm64',
};

// Explicit per-hook/test timeouts: a project-level testTimeout in jest.config.js is not applied (we saw 5 s).
const TIMEOUT = 120_000;

let run: Run;
let a: ContainerdNode;
let b: ContainerdNode;

beforeAll(async () => {
  run = Run.create('containerd');
  try {
    a = await startContainerdNode(run, { name: 'a' });
    b = await startContainerdNode(run, { name: 'b' });
  } catch (err) {
    console.error(run.tailLogs());
    throw err;
  }
  console.log(
    `containerd started: a in ${a.startMs} ms, b in ${b.startMs} ms (snapshotter ${a.snapshotter})`,
  );
}, TIMEOUT);

afterAll(async () => {
  await run?.stop();
}, TIMEOUT);

function blobsOf(image: BuiltImage, platformIndex = 0): string[] {
  const p = image.platforms[platformIndex];
  if (!p) throw new Error(`image has no platform ${platformIndex}`);
  return [p.manifest.digest, p.config.digest, ...p.layers.map((l) => l.digest)];
}

test(
  'given an image imported into node A, A lists it with its digest and node B does not',
  async () => {
    const image = await buildImage(run, { layers: 3, layerSize: 2 * MiB });
    const ref = 'docker.io/library/tote-fixture:a1';
    await importToNode(a, image, ref);

    const onA = await listImages(a);
    expect(onA).toContainEqual({ name: ref, mediaType: MEDIA_TYPES.oci.manifest, digest: image.digest });
    // As after a CRI pull: the repo digest record, and the ID record CRI itself adds for the config digest.
    expect(onA).toContainEqual({
      name: `docker.io/library/tote-fixture@${image.digest}`,
      mediaType: MEDIA_TYPES.oci.manifest,
      digest: image.digest,
    });
    expect(onA.map((i) => i.name)).toContain(image.configDigests[0]);
    expect(await listContent(a)).toEqual(expect.arrayContaining(blobsOf(image)));

    expect((await listImages(b)).map((i) => i.digest)).not.toContain(image.digest);
    const onB = await listContent(b);
    for (const d of blobsOf(image)) expect(onB).not.toContain(d);
  },
  TIMEOUT,
);

test(
  'given a multi-arch OCI index, the default import is sparse like a pull and allPlatforms keeps everything',
  async () => {
    const image = await buildImage(run, {
      layers: 2,
      layerSize: MiB,
      platforms: [hostPlatform(), otherPlatform],
    });
    expect(image.mediaType).toBe(MEDIA_TYPES.oci.index);
    expect(image.manifestDigests).toHaveLength(2);

    await importToNode(a, image, 'docker.io/library/tote-multi:1');
    expect(await listImages(a)).toContainEqual({
      name: 'docker.io/library/tote-multi:1',
      mediaType: MEDIA_TYPES.oci.index,
      digest: image.digest,
    });
    const onA = await listContent(a);
    expect(onA).toEqual(expect.arrayContaining([image.digest, ...blobsOf(image, 0)]));
    for (const d of blobsOf(image, 1)) expect(onA).not.toContain(d);

    await importToNode(b, image, 'docker.io/library/tote-multi:1', { allPlatforms: true });
    expect(await listContent(b)).toEqual(
      expect.arrayContaining([image.digest, ...blobsOf(image, 0), ...blobsOf(image, 1)]),
    );
  },
  TIMEOUT,
);

test(
  'given docker schema2 media types, a manifest list builds and imports with docker types',
  async () => {
    const image = await buildImage(run, {
      layers: 1,
      layerSize: MiB,
      mediaTypes: 'docker',
      platforms: [hostPlatform(), otherPlatform],
    });
    expect(image.mediaType).toBe(MEDIA_TYPES.docker.index);
    expect(image.platforms[0]?.layers[0]?.mediaType).toBe(MEDIA_TYPES.docker.layer);

    await importToNode(b, image, 'docker.io/library/tote-docker:1');
    const records = await listImages(b);
    expect(records).toContainEqual({
      name: 'docker.io/library/tote-docker:1',
      mediaType: MEDIA_TYPES.docker.index,
      digest: image.digest,
    });
    expect(records.map((i) => i.name)).toContain(image.configDigests[0]);
  },
  TIMEOUT,
);

test(
  'given a base image, a derived image shares its base layer blobs and the same seed gives the same digests',
  async () => {
    const base = await buildImage(run, { layers: 2, layerSize: MiB, seed: 'base' });
    const again = await buildImage(run, { layers: 2, layerSize: MiB, seed: 'base' });
    expect(again.digest).toBe(base.digest);

    const derived = await buildImage(run, {
      layers: 3,
      layerSize: MiB,
      shareBaseLayersWith: base,
      sharedLayers: 2,
    });
    expect(derived.layerDigests.slice(0, 2)).toEqual(base.layerDigests);
    expect(derived.layerDigests[2]).not.toBe(base.layerDigests[1]);
    expect(derived.digest).not.toBe(base.digest);

    await importToNode(a, base, 'docker.io/library/tote-base:1');
    await importToNode(a, derived, 'docker.io/library/tote-derived:1');
    expect(await listContent(a)).toEqual(expect.arrayContaining(derived.layerDigests));
  },
  TIMEOUT,
);

test(
  'given an image whose records are deleted, gc() removes its blobs and keeps other images',
  async () => {
    const keep = await buildImage(run, { layers: 1, layerSize: MiB });
    const drop = await buildImage(run, { layers: 2, layerSize: MiB });
    await importToNode(b, keep, 'docker.io/library/tote-keep:1');
    await importToNode(b, drop, 'docker.io/library/tote-drop:1');
    expect(await listContent(b)).toEqual(expect.arrayContaining(blobsOf(drop)));

    const names = (await listImages(b)).filter((i) => i.digest === drop.digest).map((i) => i.name);
    expect(names.length).toBeGreaterThanOrEqual(3);
    await ctr(b, ['images', 'rm', ...names]);
    await gc(b);

    const left = await listContent(b);
    for (const d of blobsOf(drop)) expect(left).not.toContain(d);
    expect(left).toEqual(expect.arrayContaining(blobsOf(keep)));
  },
  TIMEOUT,
);

test(
  'given a restart, the node keeps its images and serves again on the same socket',
  async () => {
    const image = await buildImage(run, { layers: 1, layerSize: MiB });
    await importToNode(a, image, 'docker.io/library/tote-restart:1');
    await a.restart();
    console.log(`containerd a restarted in ${a.startMs} ms`);
    expect(await listImages(a)).toContainEqual({
      name: 'docker.io/library/tote-restart:1',
      mediaType: MEDIA_TYPES.oci.manifest,
      digest: image.digest,
    });
  },
  TIMEOUT,
);
