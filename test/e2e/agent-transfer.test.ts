import { credentials, Metadata } from '@grpc/grpc-js';
import { ImageServiceClient, type ImageStatusResponse } from '../../proto/gen/cri/runtime/v1/api.js';
import { ImportPhase } from '../../proto/gen/tote/v1/agent.js';
import { startRealCluster, transfer, type RealCluster } from '../agent-contract/real.js';
import { ctr, gc, listContent, listImages, type ContainerdNode } from '../harness/containerd.js';
import { buildImage, hostPlatform, importToNode, type BuiltImage } from '../harness/images.js';
import { waitFor } from '../harness/ports.js';
import { Run } from '../harness/run.js';

const TIMEOUT = 180_000;
const other = { os: 'linux', architecture: hostPlatform().architecture === 'arm64' ? 'amd64' : 'arm64' };
let run: Run;
let cluster: RealCluster;

beforeAll(async () => {
  run = Run.create('agent-transfer');
  try {
    cluster = await startRealCluster(run, ['a', 'b', 'c']);
  } catch (err) {
    console.error(run.tailLogs());
    throw err;
  }
}, TIMEOUT);

afterAll(async () => {
  await run?.stop();
}, TIMEOUT);

/** What the kubelet would ask: CRI ImageStatus for the image string of a pod spec. */
async function criImageId(node: ContainerdNode, image: string): Promise<string | undefined> {
  const cri = new ImageServiceClient(`unix://${node.socket}`, credentials.createInsecure());
  try {
    const res = await new Promise<ImageStatusResponse>((resolve, reject) =>
      cri.imageStatus({ image: { image, annotations: {} }, verbose: false }, new Metadata(), (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
    return res.image?.id;
  } finally {
    cri.close();
  }
}

const allBlobs = (img: BuiltImage): string[] => [
  img.digest,
  ...img.manifestDigests,
  ...img.configDigests,
  ...img.layerDigests,
];
const c = (): ContainerdNode => cluster.node('c').containerd;

test(
  'given an image only on node A, C imports it through the agents: same digest, visible to CRI, kept by GC',
  async () => {
    const img = await buildImage(run, { layers: 3, layerSize: 1 << 20 });
    await importToNode(cluster.node('a').containerd, img, 'registry.example/app:v1');
    const done = await transfer(cluster, {
      digest: img.digest,
      from: ['a'],
      to: 'c',
      names: ['registry.example/app:v1'],
    });
    expect(done.phase).toBe(ImportPhase.IMPORT_PHASE_DONE);
    expect((await listImages(c())).filter((r) => r.name === 'registry.example/app:v1')).toEqual([
      { name: 'registry.example/app:v1', mediaType: img.mediaType, digest: img.digest },
    ]);
    expect((await listImages(cluster.node('b').containerd)).some((r) => r.digest === img.digest)).toBe(false);
    const config = img.configDigests[0];
    await waitFor(
      'CRI to see the image',
      async () => (await criImageId(c(), 'registry.example/app:v1')) === config,
    );
    expect(await criImageId(c(), `registry.example/app@${img.digest}`)).toBe(config);
    await gc(c());
    expect(await listContent(c())).toEqual(expect.arrayContaining(allBlobs(img)));
    expect(await ctr(c(), ['leases', 'ls', '-q'])).not.toContain('tote-import');
  },
  TIMEOUT,
);

test(
  'given C already holds the base layers, only the missing blobs cross the wire',
  async () => {
    const base = await buildImage(run, { layers: 3, layerSize: 1 << 20 });
    const img = await buildImage(run, {
      layers: 4,
      layerSize: 1 << 20,
      shareBaseLayersWith: base,
      sharedLayers: 3,
    });
    await importToNode(cluster.node('a').containerd, img, 'registry.example/dedup:v2');
    await importToNode(c(), base, 'registry.example/dedup:v1');
    const done = await transfer(cluster, {
      digest: img.digest,
      from: ['a'],
      to: 'c',
      names: ['registry.example/dedup:v2'],
    });
    const p = img.platforms[0];
    if (!p) throw new Error('platform');
    const missing = [p.config, ...p.layers.filter((l) => !base.layerDigests.includes(l.digest))];
    expect(done).toMatchObject({
      blobsSkipped: 3,
      bytesReceived: String(missing.reduce((n, d) => n + d.size, 0)),
    });
    expect(await listContent(c())).toEqual(expect.arrayContaining(allBlobs(img)));
  },
  TIMEOUT,
);

test.each([
  ['a multi-arch OCI index', { mediaTypes: 'oci' as const, platforms: [hostPlatform(), other] }],
  [
    'a multi-arch Docker manifest list',
    { mediaTypes: 'docker' as const, platforms: [hostPlatform(), other] },
  ],
  ['a Docker schema2 image', { mediaTypes: 'docker' as const }],
])(
  'given %s, the import round-trips with identical digests',
  async (_what, spec) => {
    const img = await buildImage(run, { layers: 2, layerSize: 256 * 1024, ...spec });
    const name = `registry.example/rt-${img.seed.slice(0, 8)}:v1`;
    await importToNode(cluster.node('b').containerd, img, name, { allPlatforms: true });
    await transfer(cluster, { digest: img.digest, from: ['b'], to: 'c', names: [name] });
    expect((await listImages(c())).find((r) => r.name === name)).toEqual({
      name,
      mediaType: img.mediaType,
      digest: img.digest,
    });
    expect(await listContent(c())).toEqual(expect.arrayContaining(allBlobs(img)));
    await gc(c());
    expect(await listContent(c())).toEqual(expect.arrayContaining(allBlobs(img)));
  },
  TIMEOUT,
);

test(
  'given two sources, the import uses both and lands complete',
  async () => {
    const img = await buildImage(run, { layers: 4, layerSize: 512 * 1024 });
    await importToNode(cluster.node('a').containerd, img, 'registry.example/two:v1');
    await importToNode(cluster.node('b').containerd, img, 'registry.example/two:v1');
    const sources = new Set<string>();
    const done = await transfer(cluster, {
      digest: img.digest,
      from: ['a', 'b'],
      to: 'c',
      names: ['registry.example/two:v1'],
      onUpdate: (u) => u.source && sources.add(u.source),
    });
    expect(done.phase).toBe(ImportPhase.IMPORT_PHASE_DONE);
    expect([...sources].sort()).toEqual(['a', 'b']);
    const client = cluster.client('c');
    try {
      const has = await waitFor('CRI to see the image', async () => {
        const h = await client.hasImage(img.digest);
        return h.criImageId ? h : false;
      });
      expect(has).toMatchObject({ present: true, complete: true, criImageId: img.configDigests[0] });
    } finally {
      client.close();
    }
  },
  TIMEOUT,
);
