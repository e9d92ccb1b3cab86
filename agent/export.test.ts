import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { codeOf, drain, startCluster, type TestCluster } from '../test/agent-contract/cluster.js';
import { memImage, seedImage } from '../test/agent-contract/images.js';

const NAME = 'docker.io/library/app:1';
const token = (): string => randomBytes(24).toString('base64url');

let cluster: TestCluster;
let now = 1_000_000;
beforeEach(async () => {
  now = 1_000_000;
  cluster = await startCluster(['a'], { now: () => now, maxConcurrentExports: 1 });
});
afterEach(async () => {
  await cluster.stop();
});

function a() {
  const x = cluster.agents.a;
  if (!x) throw new Error('a');
  return x;
}

async function prepared(layerSize = 200_000) {
  const targetNode = 'c';
  const img = memImage({ layerSizes: [layerSize] });
  seedImage(a().store, img, NAME);
  const t = token();
  const session = { token: t, digest: img.root.digest, sourceNode: 'a', targetNode, ttlSeconds: 60 };
  const res = await a().client.prepareExport({ session, digest: img.root.digest });
  return { img, t, session, res };
}

const layerOf = (img: ReturnType<typeof memImage>): string => img.platforms[0]?.layers[0]?.digest ?? '';

test('PrepareExport describes the root and every blob, and is idempotent for the same session', async () => {
  const { img, session, res } = await prepared();
  expect(res.mediaType).toBe(img.root.mediaType);
  expect(res.blobs.map((b) => b.digest).sort()).toEqual([...img.blobs.keys()].sort());
  expect(res.names).toEqual([NAME]);
  expect(await a().client.prepareExport({ session, digest: img.root.digest })).toEqual(res);
});

test('ReadBlob streams from an offset with absolute offsets, in chunks of at most chunkSize', async () => {
  const { img, t } = await prepared();
  const layer = layerOf(img);
  const chunks = await drain(a().client.readBlob({ token: t, digest: layer, offset: '1000', node: 'c' }));
  expect(
    Buffer.concat(chunks.map((c) => c.data)).equals(img.blobs.get(layer)?.subarray(1000) ?? Buffer.alloc(0)),
  ).toBe(true);
  expect(chunks[0]?.offset).toBe('1000');
  expect(Math.max(...chunks.map((c) => c.data.length))).toBeLessThanOrEqual(64 * 1024);
});

test.each([
  ['no token', '', 'c', status.UNAUTHENTICATED],
  ['an unknown token', 'x'.repeat(32), 'c', status.UNAUTHENTICATED],
  ['another node', undefined, 'b', status.PERMISSION_DENIED],
])('ReadBlob with %s is refused', async (_what, tok, node, code) => {
  const { img, t } = await prepared();
  const req = { token: tok ?? t, digest: layerOf(img), offset: '0', node };
  expect(await codeOf(drain(a().client.readBlob(req)))).toBe(code);
});

test('ReadBlob after the session expired is UNAUTHENTICATED', async () => {
  const { img, t } = await prepared();
  now += 61_000;
  expect(
    await codeOf(drain(a().client.readBlob({ token: t, digest: layerOf(img), offset: '0', node: 'c' }))),
  ).toBe(status.UNAUTHENTICATED);
});

test("ReadBlob of a blob outside the session's image is PERMISSION_DENIED, even if the node holds it", async () => {
  const { t } = await prepared();
  const other = memImage();
  seedImage(a().store, other, 'docker.io/library/other:1');
  const req = { token: t, digest: layerOf(other), offset: '0', node: 'c' };
  expect(await codeOf(drain(a().client.readBlob(req)))).toBe(status.PERMISSION_DENIED);
});

test('ReadBlob with a malformed digest or offset is INVALID_ARGUMENT; past the end is OUT_OF_RANGE', async () => {
  const { img, t } = await prepared();
  expect(
    await codeOf(drain(a().client.readBlob({ token: t, digest: 'sha256:nope', offset: '0', node: 'c' }))),
  ).toBe(status.INVALID_ARGUMENT);
  expect(
    await codeOf(drain(a().client.readBlob({ token: t, digest: layerOf(img), offset: '-1', node: 'c' }))),
  ).toBe(status.INVALID_ARGUMENT);
  expect(
    await codeOf(
      drain(a().client.readBlob({ token: t, digest: layerOf(img), offset: '999999999', node: 'c' })),
    ),
  ).toBe(status.OUT_OF_RANGE);
});

test('a token bound to one image cannot be re-bound to another', async () => {
  const { session } = await prepared();
  const other = memImage();
  seedImage(a().store, other, 'docker.io/library/other:1');
  const req = { session: { ...session, digest: other.root.digest }, digest: other.root.digest };
  expect(await codeOf(a().client.prepareExport(req))).toBe(status.PERMISSION_DENIED);
});

test.each([
  [
    'an unknown digest',
    (d: string) => ({ digest: d.replace(/.$/, d.endsWith('0') ? '1' : '0') }),
    status.NOT_FOUND,
  ],
  ['a malformed digest', () => ({ digest: 'latest' }), status.INVALID_ARGUMENT],
  ['a short token', () => ({ token: 'short' }), status.INVALID_ARGUMENT],
  ['another source node', () => ({ sourceNode: 'b' }), status.PERMISSION_DENIED],
])('PrepareExport of %s is refused', async (_what, patch, code) => {
  const img = memImage();
  seedImage(a().store, img, NAME);
  const session = {
    token: token(),
    digest: '',
    sourceNode: 'a',
    targetNode: 'c',
    ttlSeconds: 60,
    ...patch(img.root.digest),
  };
  expect(await codeOf(a().client.prepareExport({ session, digest: session.digest || img.root.digest }))).toBe(
    code,
  );
});

test('an image whose layers were discarded is not exported: FAILED_PRECONDITION names the missing blob', async () => {
  const img = memImage();
  seedImage(a().store, img, NAME);
  a().store.dropBlob(layerOf(img));
  const session = {
    token: token(),
    digest: img.root.digest,
    sourceNode: '',
    targetNode: 'c',
    ttlSeconds: 60,
  };
  const err = await a()
    .client.prepareExport({ session, digest: img.root.digest })
    .catch((e: { code: number; details: string }) => e);
  expect(err).toMatchObject({ code: status.FAILED_PRECONDITION });
  expect((err as { details: string }).details).toContain(layerOf(img));
  expect(await a().client.hasImage(img.root.digest)).toMatchObject({
    present: true,
    complete: false,
    missing: [layerOf(img)],
  });
});

test('a second session streaming while the only export slot is taken gets RESOURCE_EXHAUSTED', async () => {
  const first = await prepared(16 << 20); // big enough that the server blocks on backpressure
  const second = await prepared();
  const it = a()
    .client.readBlob({ token: first.t, digest: layerOf(first.img), offset: '0', node: 'c' })
    [Symbol.asyncIterator]();
  await it.next(); // the first stream holds the slot while it is open
  const req = { token: second.t, digest: layerOf(second.img), offset: '0', node: 'c' };
  expect(await codeOf(drain(a().client.readBlob(req)))).toBe(status.RESOURCE_EXHAUSTED);
  await it.return?.();
});
