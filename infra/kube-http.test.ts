import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { KubeHttpError, loadKubeHttp, type KubeHttp } from './kube-http.js';
import { inClusterTarget, targetFromKubeconfig } from './kube-target.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tote-kube-http-'));

function kubeconfig(
  server: string,
  user: Record<string, unknown>,
  cluster: Record<string, unknown> = {},
): string {
  const file = path.join(dir, `kc-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
      clusters: [{ name: 'k', cluster: { server, ...cluster } }],
      users: [{ name: 'u', user }],
    }),
  );
  return file;
}

let server: http.Server;
let base: string;
const seen: { method?: string; url?: string; auth?: string; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/api/v1/pods' && u.searchParams.get('watch') === 'true') {
        if (u.searchParams.get('resourceVersion') === 'old') {
          res
            .writeHead(410, { 'content-type': 'application/json' })
            .end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n`);
        res.end(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } })}\n`);
        return;
      }
      if (u.pathname === '/api/v1/pods')
        return void res
          .writeHead(200)
          .end(JSON.stringify({ items: [{ n: 1 }], metadata: { resourceVersion: '5', continue: '' } }));
      if (u.pathname === '/boom')
        return void res
          .writeHead(500)
          .end(JSON.stringify({ kind: 'Status', message: 'etcd is sad', reason: 'InternalError' }));
      if (req.method === 'POST') return void res.writeHead(201).end(body);
      res.writeHead(404).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function client(): Promise<KubeHttp> {
  return loadKubeHttp({ file: kubeconfig(base, { token: 'sekret' }), env: {} });
}

test('given a token kubeconfig, GET sends the bearer token and query; 404 is null; errors carry the Status', async () => {
  const kube = await client();
  try {
    expect(await kube.get('/api/v1/pods', { limit: 2, continue: undefined })).toEqual({
      items: [{ n: 1 }],
      metadata: { resourceVersion: '5', continue: '' },
    });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/api/v1/pods?limit=2', auth: 'Bearer sekret' });
    expect(await kube.get('/apis/apps/v1/namespaces/x/replicasets/gone')).toBeNull();
    const err = await kube.get('/boom').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeHttpError);
    expect(err).toMatchObject({ code: 500, reason: 'InternalError' });
    expect(String(err)).toContain('etcd is sad');
    expect(await kube.post('/apis/events.k8s.io/v1/namespaces/x/events', { a: 1 })).toEqual({ a: 1 });
  } finally {
    kube.close();
  }
});

test('given a watch, every line becomes an event and the end is a clean close; 410 rejects with its code', async () => {
  const kube = await client();
  try {
    const events: string[] = [];
    const done = await new Promise<unknown>((resolve) => {
      void kube.watch(
        '/api/v1/pods',
        { resourceVersion: '5' },
        (t, o) => events.push(`${t} ${JSON.stringify(o)}`),
        resolve,
      );
    });
    expect(done).toBeNull();
    expect(events).toEqual([
      'ADDED {"metadata":{"name":"a"}}',
      'BOOKMARK {"metadata":{"resourceVersion":"9"}}',
    ]);
    expect(seen.at(-1)?.url).toBe('/api/v1/pods?resourceVersion=5&watch=true');
    await expect(
      kube.watch(
        '/api/v1/pods',
        { resourceVersion: 'old' },
        () => undefined,
        () => undefined,
      ),
    ).rejects.toMatchObject({ code: 410 });
  } finally {
    kube.close();
  }
});

test('given kubeconfig TLS material as data and as relative files, the target carries it', async () => {
  writeFileSync(path.join(dir, 'ca.pem'), 'CA-FILE');
  const file = kubeconfig(
    'https://k.example:6443',
    {
      'client-certificate-data': Buffer.from('CERT').toString('base64'),
      'client-key': 'key.pem',
      tokenFile: 'tok',
    },
    { 'certificate-authority': 'ca.pem', 'tls-server-name': 'kubernetes' },
  );
  writeFileSync(path.join(dir, 'key.pem'), 'KEY-FILE');
  writeFileSync(path.join(dir, 'tok'), 'file-token\n');
  const { parse } = await import('yaml');
  const { readFileSync } = await import('node:fs');
  const t = await targetFromKubeconfig(parse(readFileSync(file, 'utf8')), file);
  expect(t.server).toBe('https://k.example:6443');
  expect(String(t.tls.ca)).toBe('CA-FILE');
  expect(String(t.tls.cert)).toBe('CERT');
  expect(String(t.tls.key)).toBe('KEY-FILE');
  expect(t.tls).toMatchObject({ rejectUnauthorized: true, servername: 'kubernetes' });
  expect(await t.headers()).toEqual({ authorization: 'Bearer file-token' });
});

test('given the in-cluster environment, the service account token and CA are used', async () => {
  const sa = mkdtempSync(path.join(tmpdir(), 'tote-sa-'));
  writeFileSync(path.join(sa, 'ca.crt'), 'SA-CA');
  writeFileSync(path.join(sa, 'token'), 'sa-token');
  const t = inClusterTarget({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa);
  expect(t.server).toBe('https://[fd00::1]:443');
  expect(String(t.tls.ca)).toBe('SA-CA');
  expect(await t.headers()).toEqual({ authorization: 'Bearer sa-token' });
  expect(() => inClusterTarget({}, sa)).toThrow('pass --kubeconfig');
});
