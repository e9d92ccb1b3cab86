/**
 * A registry that misbehaves during a backup push (issue 8 item 4): refused credentials, a lost upload session,
 * 500s on blob uploads and manifests, connections closed in the middle of an upload, nonsense Location headers.
 * A real agent (mTLS, real containerd) pushes to a fake registry written here that fails in one chosen way,
 * then pushes the same image to the real docker-registry: each failure is a clear gRPC error naming the
 * registry, the node's own image is untouched, and the retry against the healthy registry succeeds.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { PushImageResponse } from '../../proto/gen/tote/v1/agent.js';
import { startRealCluster, type RealCluster } from '../agent-contract/real.js';
import { gc, listContent, listImages } from '../harness/containerd.js';
import { buildImage, importToNode, inspectRaw, type BuiltImage } from '../harness/images.js';
import { startRegistry, type Registry } from '../harness/registry.js';
import { waitFor } from '../harness/ports.js';
import { Run } from '../harness/run.js';

const TIMEOUT = 180_000;
const auth = { username: 'tote', password: 'backup-pw' };
let run: Run;
let cluster: RealCluster;
let healthy: Registry;
let fake: FlakyRegistry;
let img: BuiltImage;

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ERR = (code: string, message: string): string => JSON.stringify({ errors: [{ code, message }] });

/**
 * An OCI distribution endpoint that behaves until the step its repository's first path component names:
 * `/v2/<mode>/app/...`. Healthy steps store nothing but answer as a registry would.
 */
class FlakyRegistry {
  server!: Server;
  host = '';
  readonly sockets = new Set<Socket>();

  async start(): Promise<void> {
    // A request the agent abandons (its push failed or was cancelled) ends with "aborted": drop it quietly.
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    const mode = /^\/(?:v2|upload)\/([^/]+)\//.exec(url.pathname)?.[1] ?? '';
    if (url.pathname === '/token') return void res.writeHead(401).end(ERR('DENIED', 'bad credentials'));
    if (mode === 'unauthorized') {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="flaky"' });
      return void res.end(ERR('UNAUTHORIZED', 'authentication required'));
    }
    if (mode === 'bearer-refused') {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${this.host}/token",service="flaky"` });
      return void res.end(ERR('UNAUTHORIZED', 'authentication required'));
    }
    if (req.method === 'PUT' && url.pathname.startsWith('/upload/')) return this.upload(mode, req, res);
    const body = await drain(req);
    this.route({ mode, method: req.method ?? '', url, body }, req, res);
  }

  private route(
    r: { mode: string; method: string; url: URL; body: Buffer },
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const kind = /\/(blobs|manifests)\//.exec(r.url.pathname)?.[1];
    if (r.method === 'HEAD' && r.mode === 'close-before-answer') return void req.socket.destroy();
    if (r.mode === 'hang') return; // never answers; the socket stays open until the test stops the server
    if (r.method === 'HEAD') return void res.writeHead(404).end();
    if (r.method === 'POST' && r.mode === 'post-500')
      return void res.writeHead(500).end(ERR('UNKNOWN', 'storage backend exploded'));
    if (r.method === 'POST' && r.mode === 'no-location') return void res.writeHead(202).end();
    if (r.method === 'POST' && r.mode === 'bad-location')
      return void res.writeHead(202, { location: 'http://[not-an-address/upload' }).end();
    if (r.method === 'POST') {
      return void res.writeHead(202, { location: `/upload/${r.mode}/${randomUUID()}?state=x` }).end();
    }
    if (r.method === 'PUT' && kind === 'manifests') return this.manifest(r.mode, r.body, res);
    res.writeHead(404).end(ERR('NAME_UNKNOWN', 'no such route'));
  }

  private async upload(mode: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (mode === 'close-mid-upload') {
      // Take the first piece of the blob, then drop the connection while the agent is still sending.
      req.once('data', () => req.socket.destroy());
      return;
    }
    const body = await drain(req);
    if (mode === 'upload-unknown')
      return void res.writeHead(404).end(ERR('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry'));
    if (mode === 'put-500') return void res.writeHead(500).end(ERR('UNKNOWN', 'disk on fire'));
    const digest = new URL(req.url ?? '/', `http://${this.host}`).searchParams.get('digest');
    if (sha256(body) !== digest) return void res.writeHead(400).end(ERR('DIGEST_INVALID', 'digest mismatch'));
    res.writeHead(201, { 'docker-content-digest': digest }).end();
  }

  private manifest(mode: string, body: Buffer, res: ServerResponse): void {
    if (mode === 'manifest-500') return void res.writeHead(500).end(ERR('UNKNOWN', 'manifest store down'));
    const stored = mode === 'wrong-digest' ? sha256(Buffer.from('something else')) : sha256(body);
    res.writeHead(201, { 'docker-content-digest': stored }).end();
  }
}

async function drain(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

beforeAll(async () => {
  run = Run.create('bad-input-registry');
  fake = new FlakyRegistry();
  await fake.start();
  [healthy, cluster] = await Promise.all([startRegistry(run, { auth }), startRealCluster(run, ['a'])]);
  // Layers of 1 MiB: an upload spans many writes, so a connection can be cut in the middle of one.
  img = await buildImage(run, { layers: 2, layerSize: 1 << 20 });
  await importToNode(cluster.node('a').containerd, img, 'registry.example/bad-input/app:v1');
  // ctr import leaves its archive's index.json as unreferenced content: collect it now, not in the middle of a case.
  await gc(cluster.node('a').containerd);
}, TIMEOUT);

afterAll(async () => {
  await fake?.stop();
  await run?.stop();
}, TIMEOUT);

async function push(target: string, password = auth.password): Promise<PushImageResponse> {
  const client = cluster.client('a');
  let last: PushImageResponse | undefined;
  try {
    const credentials = { username: auth.username, password, token: '' };
    for await (const u of client.pushImage({ digest: img.digest, target, credentials, insecure: true }))
      last = u;
  } finally {
    client.close();
  }
  if (!last) throw new Error('no progress');
  return last;
}

async function pushFailure(target: string, password?: string): Promise<{ code: number; details: string }> {
  const err = await push(target, password).then(
    () => new Error('push succeeded'),
    (e: unknown) => e as ServiceError,
  );
  if (err instanceof Error && !('code' in err)) throw err;
  const e = err as ServiceError;
  return { code: e.code, details: e.details };
}

async function holdings(): Promise<{ images: string[]; content: string[] }> {
  const c = cluster.node('a').containerd;
  return {
    images: (await listImages(c)).map((r) => `${r.name} ${r.digest}`).sort(),
    content: (await listContent(c)).sort(),
  };
}

const CASES: [string, string, number, RegExp][] = [
  [
    '401 with bad credentials (Basic)',
    'unauthorized',
    status.UNAUTHENTICATED,
    /refused the credentials \(401\)/,
  ],
  [
    'a token server that refuses the credentials',
    'bearer-refused',
    status.UNAUTHENTICATED,
    /token server .* refused/,
  ],
  ['404 on a lost upload session', 'upload-unknown', status.NOT_FOUND, /BLOB_UPLOAD_UNKNOWN/],
  [
    '500 when an upload starts',
    'post-500',
    status.UNAVAILABLE,
    /start upload of sha256:[a-f0-9]{64}: UNKNOWN/,
  ],
  [
    '500 on the blob upload',
    'put-500',
    status.UNAVAILABLE,
    /upload sha256:[a-f0-9]{64}: UNKNOWN: disk on fire/,
  ],
  [
    'the connection closed in the middle of an upload',
    'close-mid-upload',
    status.UNAVAILABLE,
    /ECONNRESET|EPIPE|socket hang up/,
  ],
  [
    'the connection closed before any answer',
    'close-before-answer',
    status.UNAVAILABLE,
    /socket hang up|ECONNRESET/,
  ],
  ['an upload answer without Location', 'no-location', status.UNAVAILABLE, /start upload of sha256/],
  [
    'an unparseable Location',
    'bad-location',
    status.UNAVAILABLE,
    /unusable Location "http:\/\/\[not-an-address/,
  ],
  [
    '500 on the manifest',
    'manifest-500',
    status.UNAVAILABLE,
    /put manifest v1: UNKNOWN: manifest store down/,
  ],
  ['a manifest stored under another digest', 'wrong-digest', status.DATA_LOSS, /stored v1 as sha256:/],
];

describe('a push to a misbehaving registry fails clearly, loses nothing, and a retry elsewhere succeeds', () => {
  test.each(CASES)('given %s', async (what, mode, code, details) => {
    const before = await holdings();
    const err = await pushFailure(`${fake.host}/${mode}/app:v1`);
    process.stdout.write(`${what}: ${status[err.code]} ${err.details}\n`);
    expect(err.code).toBe(code);
    expect(err.details).toContain(fake.host);
    expect(err.details).toMatch(details);
    expect(await holdings()).toEqual(before);
    const done = await push(`${healthy.host}/retry/${mode}:v1`);
    expect(done).toMatchObject({ done: true, pushedDigest: img.digest });
    expect(sha256(await inspectRaw(healthy, `${healthy.host}/retry/${mode}:v1`))).toBe(img.digest);
  });
});

/** The agent's `tote_agent_active_transfers{direction="push"}` gauge. */
async function activePushes(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${cluster.node('a').metricsPort}/metrics`)).text();
  return Number(/^tote_agent_active_transfers\{direction="push"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

test(
  "given a registry that never answers, the caller's deadline ends the push and the agent lets go of it",
  async () => {
    const before = await holdings();
    const client = cluster.client('a');
    const req = {
      digest: img.digest,
      target: `${fake.host}/hang/app:v1`,
      credentials: undefined,
      insecure: true,
    };
    const err = await (async () => {
      for await (const _ of client.pushImage(req, { deadlineMs: 2000 }));
    })().then(
      () => new Error('push succeeded'),
      (e: unknown) => e as ServiceError,
    );
    client.close();
    process.stdout.write(
      `registry never answers: ${status[(err as ServiceError).code]} ${(err as ServiceError).details}\n`,
    );
    expect((err as ServiceError).code).toBe(status.DEADLINE_EXCEEDED);
    expect(await holdings()).toEqual(before);
    // The abandoned push must not stay counted (nor keep its HTTP request open) on the agent.
    await waitFor('the abandoned push to end on the agent', async () => (await activePushes()) === 0, 15_000);
    expect((await push(`${healthy.host}/retry/hang:v1`)).pushedDigest).toBe(img.digest);
  },
  TIMEOUT,
);

test(
  'given the real registry and a wrong password, the push is UNAUTHENTICATED and the right one then works',
  async () => {
    const before = await holdings();
    const err = await pushFailure(`${healthy.host}/backup/pw:v1`, 'wrong');
    process.stdout.write(`real registry, wrong password: ${status[err.code]} ${err.details}\n`);
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.details).toContain(healthy.host);
    expect(await holdings()).toEqual(before);
    expect((await push(`${healthy.host}/backup/pw:v1`)).pushedDigest).toBe(img.digest);
  },
  TIMEOUT,
);
