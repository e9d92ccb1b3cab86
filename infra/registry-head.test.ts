import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseBearerChallenge, RegistryHead } from './registry-head.js';

const DIGEST = `sha256:${'cd'.repeat(32)}`;
let server: Server;
let host: string;
const seen: { method?: string; url?: string; auth?: string; accept?: string }[] = [];

/** A registry on loopback: `here` exists, `gone` does not, `private` wants a token, `broken` answers 500. */
function handle(req: IncomingMessage): { status: number; headers?: Record<string, string>; body?: string } {
  seen.push({
    method: req.method,
    url: req.url,
    auth: req.headers.authorization,
    accept: req.headers.accept,
  });
  if (req.url?.startsWith('/token')) {
    const scope = new URL(req.url, 'http://x').searchParams.get('scope');
    return scope === 'repository:public:pull'
      ? { status: 200, body: JSON.stringify({ token: 'anon' }) }
      : { status: 401 };
  }
  const challenge = (repo: string) => ({
    'www-authenticate': `Bearer realm="http://${host}/token",service="reg",scope="repository:${repo}:pull"`,
  });
  if (req.url === `/v2/here/manifests/${DIGEST}`)
    return { status: 200, headers: { 'docker-content-digest': DIGEST } };
  if (req.url === `/v2/public/manifests/${DIGEST}`) {
    return req.headers.authorization === 'Bearer anon'
      ? { status: 200, headers: { 'docker-content-digest': DIGEST } }
      : { status: 401, headers: challenge('public') };
  }
  if (req.url === `/v2/private/manifests/${DIGEST}`) return { status: 401, headers: challenge('private') };
  if (req.url === `/v2/broken/manifests/${DIGEST}`) return { status: 500 };
  return { status: 404 };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const r = handle(req);
    res.writeHead(r.status, r.headers).end(r.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const head = (repository: string) =>
  new RegistryHead().headManifest({ registry: host, repository, reference: DIGEST, insecure: true });

test('given a manifest the registry serves, should answer present with its digest (HEAD, every manifest type accepted)', async () => {
  expect(await head('here')).toEqual({ copy: 'present', digest: DIGEST });
  const req = seen.find((s) => s.url?.startsWith('/v2/here/'));
  expect(req?.method).toBe('HEAD');
  expect(req?.accept).toContain('application/vnd.oci.image.index.v1+json');
  expect(req?.accept).toContain('application/vnd.docker.distribution.manifest.v2+json');
});

test('given a 404, should answer gone', async () => {
  expect(await head('deleted')).toEqual({ copy: 'gone' });
});

test('given a 401 with a bearer challenge an anonymous token satisfies, should retry with the token', async () => {
  expect(await head('public')).toEqual({ copy: 'present', digest: DIGEST });
  expect(seen.some((s) => s.url?.startsWith('/v2/public/') && s.auth === 'Bearer anon')).toBe(true);
});

test('given a 401 no anonymous token satisfies, or a 500, should answer unknown, never gone', async () => {
  expect(await head('private')).toEqual({
    copy: 'unknown',
    detail: 'HTTP 401: the registry wants credentials',
  });
  expect(await head('broken')).toEqual({ copy: 'unknown', detail: 'HTTP 500' });
});

test('given a registry nobody answers on, should answer unknown with the network error', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const r = await new RegistryHead().headManifest({
    registry: `127.0.0.1:${port}`,
    repository: 'x',
    reference: DIGEST,
    insecure: true,
  });
  expect(r.copy).toBe('unknown');
  expect(r.detail).toMatch(/^unreachable: .*ECONNREFUSED/);
});

test('parseBearerChallenge', () => {
  expect(parseBearerChallenge('Bearer realm="https://a/t",service="s",scope="repository:x:pull"')).toEqual({
    realm: 'https://a/t',
    service: 's',
    scope: 'repository:x:pull',
  });
  expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined();
  expect(parseBearerChallenge(null)).toBeUndefined();
});
