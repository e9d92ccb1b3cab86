import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistryResolver, parseChallenge } from './registry-client.js';

const D = `sha256:${'cd'.repeat(32)}`;

/** A tiny registry: `/v2/team/app/manifests/1` needs a bearer token from `/token`; other tags are 404. */
async function fakeRegistry(fn: (host: string, seen: string[]) => Promise<void>): Promise<void> {
  const seen: string[] = [];
  let host = '';
  const srv = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    if (req.url?.startsWith('/token')) return res.writeHead(200).end(JSON.stringify({ token: 't0k' }));
    if (req.headers.authorization !== 'Bearer t0k') {
      res.setHeader(
        'www-authenticate',
        `Bearer realm="http://${host}/token",service="reg",scope="repository:team/app:pull"`,
      );
      return res.writeHead(401).end();
    }
    if (req.url === '/v2/team/app/manifests/1')
      return res.writeHead(200, { 'docker-content-digest': D }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
  try {
    await fn(host, seen);
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
}

test('given a registry asking for a bearer token, should fetch one anonymously and read the digest', async () => {
  await fakeRegistry(async (host, seen) => {
    const r = createRegistryResolver({ insecure: true });
    expect(await r.resolveTag(`${host}/team/app:1`)).toBe(D);
    expect(seen).toEqual([
      'HEAD /v2/team/app/manifests/1 -',
      'GET /token?service=reg&scope=repository%3Ateam%2Fapp%3Apull -',
      'HEAD /v2/team/app/manifests/1 Bearer t0k',
    ]);
    expect(await r.resolveTag(`${host}/team/app:2`)).toBeNull();
  });
});

test('given a digest reference, should answer it without asking', async () => {
  expect(
    await createRegistryResolver({ fetch: () => Promise.reject(new Error('no')) }).resolveTag(`x.io/a@${D}`),
  ).toBe(D);
});

test('parseChallenge reads bearer parameters and ignores basic', () => {
  expect(parseChallenge('Bearer realm="https://a/t",service="s"')).toEqual({
    realm: 'https://a/t',
    service: 's',
  });
  expect(parseChallenge('Basic realm="r"')).toBeUndefined();
});
