import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { ChannelCredentials, Metadata, status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { AgentClient } from '../infra/agent-client.js';
import { ServerTls, tlsChannelOptions, type TlsFiles } from '../infra/tls.js';
import { AgentClient as RawClient } from '../proto/gen/tote/v1/agent.js';
import { codeOf, drain } from '../test/agent-contract/cluster.js';
import { memImage, seedImage } from '../test/agent-contract/images.js';
import { createCA, issueCert, type CA } from '../test/harness/pki.js';
import { FakeStore } from './fake-store.js';
import { listenAgent, type AgentListening } from './listen.js';
import { createAgentMetrics } from './metrics.js';
import { createAgentService } from './server.js';

const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
let dir: string;
let ca: CA;
let files: Record<string, TlsFiles>;
let server: AgentListening;
let address: string;
const store = new FakeStore();

function identity(name: string, authority: CA = ca): TlsFiles {
  const c = issueCert(authority, { name, commonName: name, sans: ['tote-agent'], usage: 'both' });
  return { ...c, ca: ca.cert };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tote-mtls-'));
  ca = createCA(path.join(dir, 'ca'), 'tote-ca');
  const rogue = createCA(path.join(dir, 'rogue'), 'rogue-ca');
  files = {
    a: identity('node-a'),
    b: identity('node-b'),
    c: identity('node-c'),
    rogue: identity('node-c', rogue),
  };
  const service = createAgentService({
    ...{
      store,
      node: 'node-a',
      log: quiet,
      metrics: createAgentMetrics(new Registry()),
      ownIdentity: 'node-a',
    },
    ...{
      chunkSize: 1 << 20,
      maxConcurrentExports: 4,
      maxImageSize: 1 << 30,
      dial: () => {
        throw new Error('unused');
      },
    },
  });
  server = await listenAgent({
    methods: service,
    host: '127.0.0.1',
    port: 0,
    tls: new ServerTls(files.a as TlsFiles),
  });
  address = `127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.stop(100);
});

const client = (f: TlsFiles): AgentClient => new AgentClient({ address, tls: f, deadlineMs: 5000 });

test('a client with a certificate from the CA is served', async () => {
  const c = client(files.c as TlsFiles);
  expect(await c.listImages()).toEqual({ images: [] });
  c.close();
});

test('a client without a certificate, or with one from another CA, is refused at the handshake', async () => {
  const noCert = new RawClient(
    address,
    ChannelCredentials.createSsl(readFileSync(ca.cert)),
    tlsChannelOptions(),
  );
  const err = await new Promise<{ code: number }>((resolve) =>
    noCert.listImages({}, new Metadata(), { deadline: Date.now() + 5000 }, (e) =>
      resolve(e as { code: number }),
    ),
  );
  expect(err.code).toBe(status.UNAVAILABLE);
  expect((err as unknown as { details: string }).details).toContain('certificate required');
  noCert.close();
  const rogue = client(files.rogue as TlsFiles);
  expect(await codeOf(rogue.listImages())).toBe(status.UNAVAILABLE);
  // ReadBlob has its own connection (infra/grpc-h2.ts): the same handshake rules apply to it.
  const req = { token: 't', digest: `sha256:${'0'.repeat(64)}`, offset: '0', node: 'node-c' };
  expect(await codeOf(drain(rogue.readBlob(req)))).toBe(status.UNAVAILABLE);
  rogue.close();
  const wrongName = new AgentClient({ address, tls: files.c as TlsFiles, serverName: 'not-tote' });
  expect(await codeOf(drain(wrongName.readBlob(req)))).toBe(status.UNAVAILABLE);
  wrongName.close();
});

test('TLS below 1.3 is refused', async () => {
  const f = files.c as TlsFiles;
  const outcome = await new Promise<string>((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: server.port,
      maxVersion: 'TLSv1.2',
      ca: readFileSync(ca.cert),
      cert: readFileSync(f.cert),
      key: readFileSync(f.key),
      servername: 'tote-agent',
      ALPNProtocols: ['h2'],
    });
    s.on('secureConnect', () => resolve('connected'));
    s.on('error', (e) => resolve(e.message));
  });
  expect(outcome).not.toBe('connected');
});

test("the peer's identity comes from its certificate, not from the node name it claims", async () => {
  const img = memImage();
  seedImage(store, img, 'docker.io/library/app:1');
  const token = randomBytes(24).toString('base64url');
  const session = {
    token,
    digest: img.root.digest,
    sourceNode: 'node-a',
    targetNode: 'node-c',
    ttlSeconds: 60,
  };
  const worker = client(files.c as TlsFiles);
  await worker.prepareExport({ session, digest: img.root.digest });
  const layer = img.platforms[0]?.layers[0]?.digest ?? '';
  const b = client(files.b as TlsFiles);
  expect(await codeOf(drain(b.readBlob({ token, digest: layer, offset: '0', node: 'node-c' })))).toBe(
    status.PERMISSION_DENIED,
  );
  expect(
    (await drain(worker.readBlob({ token, digest: layer, offset: '0', node: 'whatever' }))).length,
  ).toBeGreaterThan(0);
  b.close();
  worker.close();
});

test('rotated certificate files are picked up by reload without a restart', async () => {
  const next = identity('node-a-rotated');
  const a = files.a as TlsFiles;
  copyFileSync(next.cert, a.cert);
  copyFileSync(next.key, a.key);
  expect(server.reloadTls()).toBe(true);
  const c = client(files.c as TlsFiles);
  expect((await c.listImages()).images).toBeDefined();
  const f = files.c as TlsFiles;
  const cn = await new Promise<unknown>((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: server.port,
      ca: readFileSync(ca.cert),
      cert: readFileSync(f.cert),
      key: readFileSync(f.key),
      servername: 'tote-agent',
      ALPNProtocols: ['h2'],
    });
    s.on('secureConnect', () => {
      resolve(s.getPeerCertificate().subject.CN);
      s.destroy();
    });
    s.on('error', reject);
  });
  expect(cn).toBe('node-a-rotated');
  c.close();
});
