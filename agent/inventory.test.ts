import { status } from '@grpc/grpc-js';
import { codeOf, startCluster, type TestCluster } from '../test/agent-contract/cluster.js';
import { memImage, seedImage } from '../test/agent-contract/images.js';
import { writeRecords } from './records.js';

let cluster: TestCluster;
beforeEach(async () => {
  cluster = await startCluster(['a']);
});
afterEach(async () => {
  await cluster.stop();
});

function a() {
  const x = cluster.agents.a;
  if (!x) throw new Error('a');
  return x;
}

test('ListImages lists every record with its digest, size held and completeness', async () => {
  const img = memImage({ layerSizes: [100, 200] });
  seedImage(a().store, img, 'docker.io/library/app:1');
  const { images } = await a().client.listImages();
  const size = [...img.blobs.values()].reduce((n, b) => n + b.length, 0);
  expect(images).toEqual([
    {
      name: 'docker.io/library/app:1',
      digest: img.root.digest,
      mediaType: img.root.mediaType,
      size: String(size),
      complete: true,
    },
  ]);
});

test('ResolveTag normalizes the reference as CRI does; an unknown tag is NOT_FOUND, garbage INVALID_ARGUMENT', async () => {
  const img = memImage();
  seedImage(a().store, img, 'docker.io/library/app:1');
  expect(await a().client.resolveTag('app:1')).toEqual({
    name: 'docker.io/library/app:1',
    digest: img.root.digest,
    mediaType: img.root.mediaType,
  });
  expect(await codeOf(a().client.resolveTag('app:2'))).toBe(status.NOT_FOUND);
  expect(await codeOf(a().client.resolveTag('not a ref'))).toBe(status.INVALID_ARGUMENT);
});

test('HasImage of an absent digest says not present; a malformed digest is INVALID_ARGUMENT', async () => {
  expect(await a().client.hasImage(`sha256:${'0'.repeat(64)}`)).toMatchObject({
    present: false,
    complete: false,
  });
  expect(await codeOf(a().client.hasImage('sha256:0'))).toBe(status.INVALID_ARGUMENT);
});

test('RemoveImage by name also drops the CRI id record once no name is left, and never touches blobs', async () => {
  const img = memImage();
  seedImage(a().store, img, 'docker.io/library/app:1');
  const config = img.platforms[0]?.config.digest ?? '';
  await writeRecords(a().store, ['docker.io/library/app:2', config], img.root);
  expect((await a().client.removeImage('app:1')).removed).toEqual(['docker.io/library/app:1']);
  expect((await a().client.removeImage('docker.io/library/app:2')).removed.sort()).toEqual(
    ['docker.io/library/app:2', config].sort(),
  );
  expect(await a().store.listImages()).toEqual([]);
  for (const d of img.blobs.keys()) expect(await a().store.info(d)).toBeDefined();
});

test('RemoveImage by digest removes every record of it; an unknown one is NOT_FOUND', async () => {
  const img = memImage();
  seedImage(a().store, img, 'docker.io/library/app:1');
  await writeRecords(a().store, [`docker.io/library/app@${img.root.digest}`], img.root);
  expect((await a().client.removeImage(img.root.digest)).removed).toHaveLength(2);
  expect(await codeOf(a().client.removeImage(img.root.digest))).toBe(status.NOT_FOUND);
});
