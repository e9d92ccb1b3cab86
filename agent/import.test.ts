import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { ImportPhase, type ImportFromResponse } from '../proto/gen/tote/v1/agent.js';
import { codeOf, drain, startCluster, type TestCluster } from '../test/agent-contract/cluster.js';
import { memImage, seedImage, type MemImage } from '../test/agent-contract/images.js';
import { ingestRef } from './blob-copy.js';

const NAME = 'docker.io/library/app:1';
const token = (): string => randomBytes(24).toString('base64url');

let cluster: TestCluster;
beforeEach(async () => {
  cluster = await startCluster(['a', 'b', 'c']);
});
afterEach(async () => {
  await cluster.stop();
});

function agent(n: string) {
  const a = cluster.agents[n];
  if (!a) throw new Error(n);
  return a;
}

/** Registers a session on each source (as the worker does), then imports into `target`. */
async function importImage(
  img: MemImage,
  target: string,
  sources: string[],
  names = [NAME],
): Promise<ImportFromResponse[]> {
  const t = token();
  for (const s of sources) {
    await agent(s).client.prepareExport({
      session: { token: t, digest: img.root.digest, sourceNode: s, targetNode: target, ttlSeconds: 60 },
      digest: img.root.digest,
    });
  }
  const req = {
    token: t,
    digest: img.root.digest,
    sources: sources.map((s) => ({ node: s, address: agent(s).address })),
    names,
  };
  return drain(agent(target).client.importFrom(req));
}

const leafBytes = (img: MemImage, skip: (d: string) => boolean = () => false): number =>
  img.platforms
    .flatMap((p) => [p.config, ...p.layers])
    .filter((d, i, all) => all.findIndex((x) => x.digest === d.digest) === i && !skip(d.digest))
    .reduce((n, d) => n + d.size, 0);

test('given an image only on A, when C imports it, C has every blob, the GC labels and the CRI records', async () => {
  const img = memImage({ layerSizes: [300_000, 5000] });
  seedImage(agent('a').store, img, NAME);
  const updates = await importImage(img, 'c', ['a']);
  const last = updates.at(-1);
  const p = img.platforms[0];
  if (!p) throw new Error('platform');
  expect(last).toMatchObject({
    phase: ImportPhase.IMPORT_PHASE_DONE,
    blobsSkipped: 0,
    bytesReceived: String(leafBytes(img)),
  });
  expect(last?.names.sort()).toEqual(
    ['docker.io/library/app:1', `docker.io/library/app@${img.root.digest}`, p.config.digest].sort(),
  );
  const c = agent('c').store;
  for (const d of img.blobs.keys()) expect(await c.info(d)).toBeDefined();
  expect((await c.info(p.manifest.digest))?.labels).toEqual({
    'containerd.io/gc.ref.content.config': p.config.digest,
    'containerd.io/gc.ref.content.l.0': p.layers[0]?.digest,
    'containerd.io/gc.ref.content.l.1': p.layers[1]?.digest,
  });
  expect(await c.getImage(NAME)).toMatchObject({
    target: img.root,
    labels: { 'io.cri-containerd.image': 'managed' },
  });
  expect(c.leaseIds()).toEqual([]);
  expect(c.ingestRefs()).toEqual([]);
  expect(await agent('c').client.hasImage(img.root.digest)).toMatchObject({
    present: true,
    complete: true,
    criImageId: p.config.digest,
  });
});

test('given C already holds the base layers, only the missing blobs cross the wire', async () => {
  const base = [randomBytes(50_000), randomBytes(70_000)];
  const img = memImage({ baseLayers: base, layerSizes: [9000] });
  seedImage(agent('a').store, img, NAME);
  for (const b of base) agent('c').store.seedBlob(b);
  const last = (await importImage(img, 'c', ['a'])).at(-1);
  const baseDigests = new Set(img.platforms[0]?.layers.slice(0, 2).map((l) => l.digest));
  expect(last).toMatchObject({
    phase: ImportPhase.IMPORT_PHASE_DONE,
    blobsSkipped: 2,
    bytesReceived: String(leafBytes(img, (d) => baseDigests.has(d))),
  });
  expect(
    Number(
      await agent('c')
        .registry.getSingleMetricAsString('tote_agent_blobs_skipped_total')
        .then((s) => /(\d+)$/.exec(s)?.[1]),
    ),
  ).toBe(2);
});

test('given a partial ingest from an interrupted import, the import resumes from its offset', async () => {
  const img = memImage({ layerSizes: [400_000] });
  seedImage(agent('a').store, img, NAME);
  const layer = img.platforms[0]?.layers[0];
  const data = layer && img.blobs.get(layer.digest);
  if (!layer || !data) throw new Error('layer');
  const w = await agent('c').store.openWrite({
    ref: ingestRef(layer.digest),
    digest: layer.digest,
    size: layer.size,
  });
  if (w === 'exists') throw new Error('exists');
  await w.write(data.subarray(0, 150_000));
  await w.close();
  const last = (await importImage(img, 'c', ['a'])).at(-1);
  expect(last?.bytesReceived).toBe(String(leafBytes(img) - 150_000));
  expect(await agent('c').store.info(layer.digest)).toBeDefined();
});

test('given a source whose blob is corrupt, the import fails with DATA_LOSS and creates no image', async () => {
  const img = memImage({ layerSizes: [100_000] });
  const layer = img.platforms[0]?.layers[0]?.digest ?? '';
  seedImage(agent('a').store, img, NAME);
  agent('a').store.corruptBlob(layer);
  expect(await codeOf(importImage(img, 'c', ['a']))).toBe(status.DATA_LOSS);
  expect(await agent('c').store.listImages()).toEqual([]);
  expect(await agent('c').store.info(layer)).toBeUndefined();
  expect(agent('c').store.ingestRefs()).toEqual([]);
});

test('given a corrupt first source and a good second one, the good one completes the import', async () => {
  const img = memImage({ layerSizes: [100_000] });
  seedImage(agent('a').store, img, NAME);
  seedImage(agent('b').store, img, NAME);
  agent('a').store.corruptBlob(img.platforms[0]?.layers[0]?.digest ?? '');
  const last = (await importImage(img, 'c', ['a', 'b'])).at(-1);
  expect(last?.phase).toBe(ImportPhase.IMPORT_PHASE_DONE);
});

test('given one dead source among two, the live one serves the import', async () => {
  const img = memImage();
  seedImage(agent('b').store, img, NAME);
  const t = token();
  await agent('b').client.prepareExport({
    session: { token: t, digest: img.root.digest, sourceNode: 'b', targetNode: 'c', ttlSeconds: 60 },
    digest: img.root.digest,
  });
  const sources = [
    { node: 'gone', address: '127.0.0.1:1' },
    { node: 'b', address: agent('b').address },
  ];
  const last = (
    await drain(agent('c').client.importFrom({ token: t, digest: img.root.digest, sources, names: [NAME] }))
  ).at(-1);
  expect(last?.phase).toBe(ImportPhase.IMPORT_PHASE_DONE);
});

test.each([
  ['OCI index', { arches: ['amd64', 'arm64'] }],
  ['Docker manifest list', { arches: ['amd64', 'arm64'], docker: true }],
  ['Docker schema2 manifest', { docker: true }],
])('given a %s, the import keeps every digest', async (_name, opts) => {
  const img = memImage({ ...opts, baseLayers: [randomBytes(1000)] });
  seedImage(agent('a').store, img, NAME);
  await importImage(img, 'c', ['a']);
  for (const d of img.blobs.keys()) expect(await agent('c').store.info(d)).toBeDefined();
  expect((await agent('c').client.hasImage(img.root.digest)).complete).toBe(true);
});

test('given a source holding one platform of an index, the target gets the index and that platform', async () => {
  const img = memImage({ arches: ['amd64', 'arm64'] });
  const arm = img.platforms[1];
  const armOnly = new Set([
    arm?.manifest.digest,
    arm?.config.digest,
    ...(arm?.layers.map((l) => l.digest) ?? []),
  ]);
  seedImage(agent('a').store, img, NAME, (d) => !armOnly.has(d));
  const last = (await importImage(img, 'c', ['a'])).at(-1);
  expect(last?.phase).toBe(ImportPhase.IMPORT_PHASE_DONE);
  expect(await agent('c').store.info(img.root.digest)).toBeDefined();
  expect(await agent('c').store.info(arm?.manifest.digest ?? '')).toBeUndefined();
});

test('given an image over the size limit, the import is refused before any blob moves', async () => {
  await cluster.stop();
  cluster = await startCluster(['a', 'c'], { maxImageSize: 1000 });
  const img = memImage({ layerSizes: [5000] });
  seedImage(agent('a').store, img, NAME);
  expect(await codeOf(importImage(img, 'c', ['a']))).toBe(status.FAILED_PRECONDITION);
  expect(agent('c').store.leaseIds()).toEqual([]);
});

test.each([
  ['a malformed digest', { digest: 'sha256:xyz' }],
  ['no token', { token: '' }],
  ['no sources', { sources: [] }],
  ['a malformed name', { names: ['no spaces allowed:1'] }],
])('given %s, ImportFrom is INVALID_ARGUMENT and touches nothing', async (_what, patch) => {
  const img = memImage();
  const req = {
    token: token(),
    digest: img.root.digest,
    sources: [{ node: 'a', address: agent('a').address }],
    names: [NAME],
    ...patch,
  };
  expect(await codeOf(drain(agent('c').client.importFrom(req)))).toBe(status.INVALID_ARGUMENT);
  expect(agent('c').store.leaseIds()).toEqual([]);
});

test("given no names, the import records the source's names (and the CRI id record)", async () => {
  const img = memImage();
  seedImage(agent('a').store, img, 'quay.io/team/app:7');
  const last = (await importImage(img, 'c', ['a'], [])).at(-1);
  expect(last?.names.sort()).toEqual(
    ['quay.io/team/app:7', `quay.io/team/app@${img.root.digest}`, img.platforms[0]?.config.digest].sort(),
  );
});

test('metrics count bytes received, bytes sent and skipped blobs', async () => {
  const base = randomBytes(4000);
  const img = memImage({ baseLayers: [base], layerSizes: [6000] });
  seedImage(agent('a').store, img, NAME);
  agent('c').store.seedBlob(base);
  await importImage(img, 'c', ['a']);
  const metric = async (n: string, name: string): Promise<number> =>
    Number(/ (\d+)$/m.exec(await agent(n).registry.getSingleMetricAsString(name))?.[1]);
  const leaves = leafBytes(img) - base.length;
  expect(await metric('c', 'tote_agent_bytes_received_total')).toBe(leaves);
  expect(await metric('a', 'tote_agent_bytes_sent_total')).toBeGreaterThanOrEqual(leaves);
  expect(await metric('c', 'tote_agent_blobs_skipped_total')).toBe(1);
});
