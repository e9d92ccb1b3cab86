import { randomBytes } from 'node:crypto';
import { openSync, readSync, writeSync, closeSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ChannelCredentials, Metadata, status } from '@grpc/grpc-js';
import { AgentClient as RawClient } from '../../proto/gen/tote/v1/agent.js';
import { tlsChannelOptions } from '../../infra/tls.js';
import { startRealCluster, transfer, type RealCluster } from '../agent-contract/real.js';
import { ctr, listContent, listImages } from '../harness/containerd.js';
import { buildImage, importToNode, type BuiltImage } from '../harness/images.js';
import { Run } from '../harness/run.js';

const TIMEOUT = 180_000;
let run: Run;
let cluster: RealCluster;

beforeAll(async () => {
  run = Run.create('agent-security');
  cluster = await startRealCluster(run, ['a', 'c', 'x'], { socket: { x: '/nonexistent/containerd.sock' } });
}, TIMEOUT);

afterAll(async () => {
  await run?.stop();
}, TIMEOUT);

/** The gRPC error of a call (or of draining a stream). */
async function failure(
  p: Promise<unknown> | AsyncIterable<unknown>,
): Promise<{ code: number; details: string }> {
  try {
    if (Symbol.asyncIterator in p) for await (const _ of p);
    else await p;
  } catch (err) {
    return err as { code: number; details: string };
  }
  throw new Error('call succeeded');
}

/** Flips one byte of a committed blob on disk: the source's containerd serves it unverified. */
function corrupt(root: string, digest: string): void {
  const fd = openSync(
    path.join(root, 'io.containerd.content.v1.content', 'blobs', 'sha256', digest.slice(7)),
    'r+',
  );
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, 1000);
  writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, 1000);
  closeSync(fd);
}

async function nothingLeftOn(node: string, img: BuiltImage): Promise<void> {
  const c = cluster.node(node).containerd;
  expect((await listImages(c)).filter((r) => r.digest === img.digest)).toEqual([]);
  expect(await ctr(c, ['content', 'active'])).not.toMatch(/tote-sha256/);
}

test(
  'given a source that sends tampered bytes, digest verification rejects them and no image appears',
  async () => {
    const img = await buildImage(run, { layers: 2, layerSize: 512 * 1024 });
    await importToNode(cluster.node('a').containerd, img, 'registry.example/tamper:v1');
    const layer = img.layerDigests[1] ?? '';
    corrupt(cluster.node('a').containerd.root, layer);
    const err = await failure(
      transfer(cluster, { digest: img.digest, from: ['a'], to: 'c', names: ['registry.example/tamper:v1'] }),
    );
    expect(err.code).toBe(status.DATA_LOSS);
    expect(err.details).toContain(layer);
    expect(await listContent(cluster.node('c').containerd)).not.toContain(layer);
    await nothingLeftOn('c', img);
  },
  TIMEOUT,
);

describe('bad input gets a clear gRPC error and leaves nothing behind', () => {
  let img: BuiltImage;
  let other: BuiltImage;
  let worker: ReturnType<RealCluster['client']>;
  const session = (digest: string, ttlSeconds = 60, targetNode = 'tote-worker') => ({
    session: {
      token: randomBytes(24).toString('base64url'),
      digest,
      sourceNode: 'a',
      targetNode,
      ttlSeconds,
    },
    digest,
  });

  beforeAll(async () => {
    img = await buildImage(run, { layers: 1, layerSize: 64 * 1024 });
    other = await buildImage(run, { layers: 1, layerSize: 64 * 1024 });
    await importToNode(cluster.node('a').containerd, img, 'registry.example/bad:v1');
    await importToNode(cluster.node('a').containerd, other, 'registry.example/other:v1');
    worker = cluster.client('a');
  }, TIMEOUT);
  afterAll(async () => {
    worker.close();
    await nothingLeftOn('c', img);
  });

  test('a malformed digest is INVALID_ARGUMENT', async () => {
    expect(await failure(worker.prepareExport(session('sha256:1234')))).toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
    const c = cluster.client('c');
    const req = {
      token: 'x'.repeat(32),
      digest: 'nope',
      sources: [{ node: 'a', address: cluster.node('a').address }],
      names: [],
    };
    expect(await failure(c.importFrom(req))).toMatchObject({ code: status.INVALID_ARGUMENT });
    c.close();
  });

  test('an unknown digest is NOT_FOUND', async () => {
    expect(await failure(worker.prepareExport(session(`sha256:${'e'.repeat(64)}`)))).toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  test('a wrong token is UNAUTHENTICATED', async () => {
    const req = {
      token: randomBytes(24).toString('base64url'),
      digest: img.layerDigests[0] ?? '',
      offset: '0',
      node: 'tote-worker',
    };
    expect(await failure(worker.readBlob(req))).toMatchObject({ code: status.UNAUTHENTICATED });
  });

  test('an expired token is UNAUTHENTICATED', async () => {
    const s = session(img.digest, 1);
    await worker.prepareExport(s);
    await new Promise((r) => setTimeout(r, 1500));
    const req = {
      token: s.session.token,
      digest: img.layerDigests[0] ?? '',
      offset: '0',
      node: 'tote-worker',
    };
    expect(await failure(worker.readBlob(req))).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: 'session expired',
    });
  });

  test("another image's token is PERMISSION_DENIED", async () => {
    const s = session(other.digest);
    await worker.prepareExport(s);
    const req = {
      token: s.session.token,
      digest: img.layerDigests[0] ?? '',
      offset: '0',
      node: 'tote-worker',
    };
    expect(await failure(worker.readBlob(req))).toMatchObject({ code: status.PERMISSION_DENIED });
  });

  test('a token for another node is PERMISSION_DENIED, whatever node name the caller claims', async () => {
    const s = session(img.digest, 60, 'c');
    await worker.prepareExport(s);
    const req = { token: s.session.token, digest: img.layerDigests[0] ?? '', offset: '0', node: 'c' };
    expect(await failure(worker.readBlob(req))).toMatchObject({ code: status.PERMISSION_DENIED });
  });

  test('a client without a certificate is refused at the TLS handshake', async () => {
    const raw = new RawClient(
      cluster.node('a').address,
      ChannelCredentials.createSsl(readFileSync(cluster.ca.cert)),
      tlsChannelOptions(),
    );
    const err = await new Promise<{ code: number; details: string }>((resolve) =>
      raw.listImages({}, new Metadata(), { deadline: Date.now() + 10_000 }, (e) =>
        resolve(e as unknown as { code: number; details: string }),
      ),
    );
    raw.close();
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toContain('certificate required');
  });

  test('an agent whose containerd socket is missing answers UNAVAILABLE naming containerd', async () => {
    const x = cluster.client('x');
    const err = await failure(x.listImages());
    x.close();
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toMatch(/containerd/);
  });
});
