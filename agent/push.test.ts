import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { status } from '@grpc/grpc-js';
import { codeOf, drain, startCluster, type TestCluster } from '../test/agent-contract/cluster.js';
import { memImage, seedImage } from '../test/agent-contract/images.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A minimal OCI registry with Docker token auth (Bearer from a token endpoint that takes Basic credentials). */
class FakeRegistry {
  readonly blobs = new Map<string, Set<string>>(); // digest → repositories
  readonly manifests = new Map<string, Buffer>(); // repo/ref → bytes
  readonly requests: string[] = [];
  private readonly uploads = new Map<string, string>();
  server!: Server;
  host = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const a = this.server.address();
    this.host = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) parts.push(c);
    const body = Buffer.concat(parts);
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (url.pathname === '/token') {
      const ok = req.headers.authorization === `Basic ${Buffer.from('u:pw').toString('base64')}`;
      return void res.writeHead(ok ? 200 : 401).end(ok ? JSON.stringify({ token: 'good' }) : '');
    }
    if (req.headers.authorization !== 'Bearer good') {
      const challenge = `Bearer realm="http://${this.host}/token",service="fake"`;
      return void res
        .writeHead(401, { 'www-authenticate': challenge })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    this.route(req.method ?? '', url, body, res);
  }

  private route(method: string, url: URL, body: Buffer, res: ServerResponse): void {
    const m = /^\/v2\/(.+)\/(blobs|manifests)\/(.*)$/.exec(url.pathname);
    const [, repo = '', kind, rest = ''] = m ?? [];
    if (method === 'HEAD' && kind === 'blobs')
      return void res.writeHead(this.blobs.get(rest)?.has(repo) ? 200 : 404).end();
    if (method === 'POST' && kind === 'blobs' && rest === 'uploads/') {
      const mount = url.searchParams.get('mount');
      if (mount && this.blobs.get(mount)?.has(url.searchParams.get('from') ?? '')) {
        this.blobs.get(mount)?.add(repo);
        return void res.writeHead(201).end();
      }
      const id = randomUUID();
      this.uploads.set(id, repo);
      return void res.writeHead(202, { location: `/upload/${id}?state=x` }).end();
    }
    const up = /^\/upload\/(.+)$/.exec(url.pathname);
    if (method === 'PUT' && up) {
      const digest = url.searchParams.get('digest') ?? '';
      if (sha(body) !== digest) return void res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID"}]}');
      this.blobs.set(
        digest,
        new Set([...(this.blobs.get(digest) ?? []), this.uploads.get(up[1] ?? '') ?? '']),
      );
      return void res.writeHead(201).end();
    }
    if (method === 'PUT' && kind === 'manifests') {
      const mediaType = (JSON.parse(body.toString()) as { mediaType?: string }).mediaType;
      this.manifests.set(`${repo}/${rest}`, body);
      this.manifests.set(`${repo}/${sha(body)}`, body);
      return void res.writeHead(mediaType ? 201 : 400, { 'docker-content-digest': sha(body) }).end();
    }
    res.writeHead(404).end();
  }
}

let cluster: TestCluster;
let registry: FakeRegistry;
beforeEach(async () => {
  cluster = await startCluster(['a']);
  registry = new FakeRegistry();
  await registry.start();
});
afterEach(async () => {
  await cluster.stop();
  registry.server.close();
});

function a() {
  const x = cluster.agents.a;
  if (!x) throw new Error('a');
  return x;
}

const creds = { username: 'u', password: 'pw', token: '' };

test('given bearer auth, a push uploads every blob, then the manifest under the tag, byte for byte', async () => {
  const img = memImage({ layerSizes: [200_000, 3000] });
  seedImage(a().store, img, 'docker.io/library/app:1');
  const updates = await drain(
    a().client.pushImage({
      digest: img.root.digest,
      target: `${registry.host}/team/app:1`,
      credentials: creds,
      insecure: true,
    }),
  );
  const last = updates.at(-1);
  const p = img.platforms[0];
  expect(last).toMatchObject({
    done: true,
    pushedDigest: img.root.digest,
    pushedRef: `${registry.host}/team/app:1`,
    blobsSkipped: 0,
  });
  expect(last?.bytesUploaded).toBe(
    String([p?.config, ...(p?.layers ?? [])].reduce((n, d) => n + (d?.size ?? 0), 0)),
  );
  expect(sha(registry.manifests.get('team/app/1') ?? Buffer.alloc(0))).toBe(img.root.digest);
  // Pushed again: every blob is already there.
  const again = (
    await drain(
      a().client.pushImage({
        digest: img.root.digest,
        target: `${registry.host}/team/app:1`,
        credentials: creds,
        insecure: true,
      }),
    )
  ).at(-1);
  expect(again).toMatchObject({ blobsSkipped: 3, bytesUploaded: '0' });
});

test('given blobs containerd knows come from another repository of the registry, the push mounts them', async () => {
  const img = memImage({ layerSizes: [5000] });
  seedImage(a().store, img, 'docker.io/library/app:1');
  await drain(
    a().client.pushImage({
      digest: img.root.digest,
      target: `${registry.host}/team/app:1`,
      credentials: creds,
      insecure: true,
    }),
  );
  for (const d of img.blobs.keys())
    await a().store.setLabels(d, { [`containerd.io/distribution.source.${registry.host}`]: 'team/app' });
  const last = (
    await drain(
      a().client.pushImage({
        digest: img.root.digest,
        target: `${registry.host}/team/copy:1`,
        credentials: creds,
        insecure: true,
      }),
    )
  ).at(-1);
  expect(last).toMatchObject({ blobsMounted: 2, bytesUploaded: '0' });
  expect(registry.requests.some((r) => r.includes('mount=') && r.includes('from=team%2Fapp'))).toBe(true);
});

test('a multi-arch index is pushed children first, then the index under the tag', async () => {
  const img = memImage({ arches: ['amd64', 'arm64'] });
  seedImage(a().store, img, 'docker.io/library/app:1');
  await drain(
    a().client.pushImage({
      digest: img.root.digest,
      target: `${registry.host}/team/multi:2`,
      credentials: creds,
      insecure: true,
    }),
  );
  const puts = registry.requests.filter((r) => r.startsWith('PUT /v2/team/multi/manifests/'));
  expect(puts).toEqual([
    ...img.platforms
      .map((p) => p.manifest.digest)
      .reverse()
      .map((d) => `PUT /v2/team/multi/manifests/${d}`),
    'PUT /v2/team/multi/manifests/2',
  ]);
});

test('a wrong password is UNAUTHENTICATED with a message naming the registry', async () => {
  const img = memImage();
  seedImage(a().store, img, 'docker.io/library/app:1');
  const req = {
    digest: img.root.digest,
    target: `${registry.host}/team/app:1`,
    credentials: { ...creds, password: 'nope' },
    insecure: true,
  };
  expect(await codeOf(drain(a().client.pushImage(req)))).toBe(status.UNAUTHENTICATED);
});

test('an index whose other platforms this node does not hold is refused before any upload', async () => {
  const img = memImage({ arches: ['amd64', 'arm64'] });
  const arm = img.platforms[1];
  seedImage(a().store, img, 'docker.io/library/app:1', (d) => d !== arm?.manifest.digest);
  const req = {
    digest: img.root.digest,
    target: `${registry.host}/team/app:1`,
    credentials: creds,
    insecure: true,
  };
  expect(await codeOf(drain(a().client.pushImage(req)))).toBe(status.FAILED_PRECONDITION);
  expect(registry.requests).toEqual([]);
});

test.each([
  ['a malformed digest', { digest: 'sha256:1' }, status.INVALID_ARGUMENT],
  ['a malformed target', { target: 'Not A Ref' }, status.INVALID_ARGUMENT],
  ['an unknown image', { digest: `sha256:${'a'.repeat(64)}` }, status.NOT_FOUND],
])('%s is refused', async (_what, patch, code) => {
  const req = {
    digest: `sha256:${'b'.repeat(64)}`,
    target: `${registry.host}/team/app:1`,
    credentials: creds,
    insecure: true,
    ...patch,
  };
  expect(await codeOf(drain(a().client.pushImage(req)))).toBe(code);
});
