import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { PushImageResponse } from '../../proto/gen/tote/v1/agent.js';
import { startRealCluster, type RealCluster } from '../agent-contract/real.js';
import {
  buildImage,
  importToNode,
  inspectRaw,
  pullFromRegistry,
  type BuiltImage,
} from '../harness/images.js';
import { startRegistry, type Registry } from '../harness/registry.js';
import { Run } from '../harness/run.js';

const TIMEOUT = 180_000;
const auth = { username: 'tote', password: 'backup-pw' };
let run: Run;
let cluster: RealCluster;
let plain: Registry;
let secure: Registry;
let img: BuiltImage;

beforeAll(async () => {
  run = Run.create('agent-push');
  plain = await startRegistry(run, { auth });
  secure = await startRegistry(run, { auth, tls: true, name: 'registry-tls' });
  // Node b trusts the TLS registry's CA (as a node would through its system store); node a does not.
  cluster = await startRealCluster(run, ['a', 'b'], {
    env: { b: { NODE_EXTRA_CA_CERTS: secure.caFile ?? '' } },
  });
  img = await buildImage(run, { layers: 3, layerSize: 1 << 20 });
  await importToNode(cluster.node('a').containerd, img, 'registry.example/app:v1');
  await importToNode(cluster.node('b').containerd, img, 'registry.example/app:v1');
}, TIMEOUT);

afterAll(async () => {
  await run?.stop();
}, TIMEOUT);

async function push(
  node: string,
  target: string,
  opts: { password?: string; insecure: boolean },
): Promise<PushImageResponse> {
  const client = cluster.client(node);
  let last: PushImageResponse | undefined;
  try {
    const credentials = { username: auth.username, password: opts.password ?? auth.password, token: '' };
    for await (const u of client.pushImage({
      digest: img.digest,
      target,
      credentials,
      insecure: opts.insecure,
    }))
      last = u;
  } finally {
    client.close();
  }
  if (!last) throw new Error('no progress');
  return last;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test(
  'given basic auth, a pushed image pulls back with skopeo under the same manifest digest',
  async () => {
    const done = await push('a', `${plain.host}/backup/app:v1`, { insecure: true });
    expect(done).toMatchObject({
      done: true,
      pushedDigest: img.digest,
      pushedRef: `${plain.host}/backup/app:v1`,
    });
    expect(sha256(await inspectRaw(plain, `${plain.host}/backup/app:v1`))).toBe(img.digest);
    expect((await pullFromRegistry(run, plain, `${plain.host}/backup/app:v1`)).digest).toBe(img.digest);
  },
  TIMEOUT,
);

test(
  'a wrong password gives UNAUTHENTICATED naming the registry',
  async () => {
    const err = await push('a', `${plain.host}/backup/denied:v1`, {
      insecure: true,
      password: 'wrong',
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.UNAUTHENTICATED });
    expect((err as { details: string }).details).toContain(plain.host);
  },
  TIMEOUT,
);

test(
  'TLS is verified: an untrusted registry certificate is refused, a trusted one works',
  async () => {
    const err = await push('a', `${secure.host}/backup/app:v1`, { insecure: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.UNAVAILABLE });
    expect((err as { details: string }).details).toMatch(/certificate/);
    const done = await push('b', `${secure.host}/backup/app:v1`, { insecure: false });
    expect(done.pushedDigest).toBe(img.digest);
    expect(sha256(await inspectRaw(secure, `${secure.host}/backup/app:v1`))).toBe(img.digest);
  },
  TIMEOUT,
);
