import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCA, issueCert } from '../test/harness/pki.js';
import { createRegistryResolver, parseChallenge, RegistryTimeoutError } from './registry-client.js';

const D = `sha256:${'cd'.repeat(32)}`;

/**
 * A tiny registry: `/v2/team/app/manifests/1` needs a bearer token from `/token`; other tags are 404. Plain HTTP,
 * or HTTPS with the given certificate.
 */
async function fakeRegistry(
  fn: (host: string, seen: string[]) => Promise<void>,
  tls?: { cert: string; key: string },
): Promise<void> {
  const seen: string[] = [];
  let host = '';
  const scheme = tls ? 'https' : 'http';
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    if (req.url?.startsWith('/token')) return void res.writeHead(200).end(JSON.stringify({ token: 't0k' }));
    if (req.headers.authorization !== 'Bearer t0k') {
      res.setHeader(
        'www-authenticate',
        `Bearer realm="${scheme}://${host}/token",service="reg",scope="repository:team/app:pull"`,
      );
      return void res.writeHead(401).end();
    }
    if (req.url === '/v2/team/app/manifests/1')
      return void res.writeHead(200, { 'docker-content-digest': D }).end();
    res.writeHead(404).end();
  };
  const srv: Server = tls ? createHttpsServer(tls, handler) : createServer(handler);
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

describe('timeout', () => {
  /** A registry that accepts connections and never answers. */
  async function silentRegistry(fn: (host: string) => Promise<void>): Promise<void> {
    const sockets = new Set<Socket>();
    const srv = createTcpServer((s) => void sockets.add(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      await fn(`127.0.0.1:${(srv.address() as AddressInfo).port}`);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => srv.close(r));
    }
  }

  test('given a registry that never answers, should fail with a RegistryTimeoutError after the timeout', async () => {
    await silentRegistry(async (host) => {
      const r = createRegistryResolver({ insecure: true, timeoutMs: 200 });
      const err = (await r.resolveTag(`${host}/team/app:1`).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(RegistryTimeoutError);
      expect(err.message).toBe(`registry http://${host}: no answer within 200 ms`);
    });
  });

  test('given a registry that never answers over the custom-CA client, should time out the same way', async () => {
    await silentRegistry(async (host) => {
      const r = createRegistryResolver({ timeoutMs: 200, ca: [readFileSync(pki().ca, 'utf8')] });
      await expect(r.resolveTag(`${host}/team/app:1`)).rejects.toBeInstanceOf(RegistryTimeoutError);
    });
  });

  test('given the caller aborts first, should pass its abort on, not report a timeout', async () => {
    await silentRegistry(async (host) => {
      const ac = new AbortController();
      const r = createRegistryResolver({ insecure: true, timeoutMs: 60_000 });
      const pending = r.resolveTag(`${host}/team/app:1`, { signal: ac.signal }).catch((e: unknown) => e);
      ac.abort(new Error('activity cancelled'));
      const err = await pending;
      expect(err).not.toBeInstanceOf(RegistryTimeoutError);
      expect(err).toEqual(new Error('activity cancelled'));
    });
  });
});

let files: { ca: string; rogueCa: string; cert: string; key: string } | undefined;

/** A private CA, a rogue one, and a server certificate for 127.0.0.1 signed by the private CA. */
function pki(): { ca: string; rogueCa: string; cert: string; key: string } {
  if (files) return files;
  const dir = mkdtempSync(path.join(tmpdir(), 'tote-registry-ca-'));
  const ca = createCA(path.join(dir, 'ca'), 'private-registry-ca');
  const rogue = createCA(path.join(dir, 'rogue'), 'rogue-ca');
  const leaf = issueCert(ca, {
    name: 'registry',
    commonName: 'registry',
    sans: ['127.0.0.1'],
    usage: 'server',
  });
  return (files = { ca: ca.cert, rogueCa: rogue.cert, ...leaf });
}

/** The code of the TLS error at the root of a fetch failure. */
function tlsCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: unknown };
  return e.code ?? (e.cause === undefined ? undefined : tlsCode(e.cause));
}

describe('--registry-resolve-ca', () => {
  const tls = (): { cert: string; key: string } => ({
    cert: readFileSync(pki().cert, 'utf8'),
    key: readFileSync(pki().key, 'utf8'),
  });

  test('given a registry whose certificate a private CA signs, should resolve over HTTPS trusting that CA', async () => {
    await fakeRegistry(async (host, seen) => {
      const r = createRegistryResolver({ ca: [readFileSync(pki().ca, 'utf8')] });
      expect(await r.resolveTag(`${host}/team/app:1`)).toBe(D);
      expect(seen).toHaveLength(3);
      expect(await r.resolveTag(`${host}/team/app:2`)).toBeNull();
    }, tls());
  });

  test('given no CA, should fail the handshake with a certificate verification error', async () => {
    await fakeRegistry(async (host, seen) => {
      const err = await createRegistryResolver()
        .resolveTag(`${host}/team/app:1`)
        .catch((e: unknown) => e);
      expect(tlsCode(err)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(seen).toEqual([]);
    }, tls());
  });

  test('given another CA, should still verify and refuse the certificate', async () => {
    await fakeRegistry(async (host, seen) => {
      const r = createRegistryResolver({ ca: [readFileSync(pki().rogueCa, 'utf8')] });
      const err = await r.resolveTag(`${host}/team/app:1`).catch((e: unknown) => e);
      expect(tlsCode(err)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(seen).toEqual([]);
    }, tls());
  });

  test('given the CA but a host name the certificate does not carry, should refuse it', async () => {
    await fakeRegistry(async (host, seen) => {
      const r = createRegistryResolver({ ca: [readFileSync(pki().ca, 'utf8')] });
      const err = await r
        .resolveTag(`${host.replace('127.0.0.1', 'localhost')}/team/app:1`)
        .catch((e: unknown) => e);
      expect(tlsCode(err)).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      expect(seen).toEqual([]);
    }, tls());
  });
});
