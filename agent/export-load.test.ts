import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { codeOf, drain, startCluster, type TestCluster } from '../test/agent-contract/cluster.js';
import { memImage, seedImage } from '../test/agent-contract/images.js';

// HasImage reports the export load so workers prefer the least busy holder (fan-out, docs/architecture.md).

const NAME = 'docker.io/library/app:1';
let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function agentA(c: TestCluster) {
  const a = c.agents.a;
  if (!a) throw new Error('no agent a');
  return a;
}

async function session(c: TestCluster, layerSize: number) {
  const img = memImage({ layerSizes: [layerSize] });
  seedImage(agentA(c).store, img, NAME);
  const token = randomBytes(24).toString('base64url');
  const s = { token, digest: img.root.digest, sourceNode: 'a', targetNode: 'c', ttlSeconds: 60 };
  await agentA(c).client.prepareExport({ session: s, digest: img.root.digest });
  return { img, token, layer: img.platforms[0]?.layers[0]?.digest ?? '' };
}

test('HasImage reports the sessions streaming now and the export cap', async () => {
  cluster = await startCluster(['a'], { maxConcurrentExports: 3 });
  const s = await session(cluster, 16 << 20); // big enough that the server blocks on backpressure
  const a = agentA(cluster);
  expect(await a.client.hasImage(s.img.root.digest)).toMatchObject({ activeExports: 0, maxExports: 3 });
  const it = a.client
    .readBlob({ token: s.token, digest: s.layer, offset: '0', node: 'c' })
    [Symbol.asyncIterator]();
  await it.next();
  expect(await a.client.hasImage(s.img.root.digest)).toMatchObject({ activeExports: 1, maxExports: 3 });
  await it.return?.();
});

test('an agent with --max-concurrent-exports 0 reports it and refuses every stream as RESOURCE_EXHAUSTED', async () => {
  cluster = await startCluster(['a'], { maxConcurrentExports: 0 });
  const s = await session(cluster, 1000);
  const a = agentA(cluster);
  expect(await a.client.hasImage(s.img.root.digest)).toMatchObject({ present: true, maxExports: 0 });
  const req = { token: s.token, digest: s.layer, offset: '0', node: 'c' };
  expect(await codeOf(drain(a.client.readBlob(req)))).toBe(status.RESOURCE_EXHAUSTED);
});
