import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { createCA, issueCert } from '../test/harness/pki.js';
import { AgentError } from './errors.js';
import { RegistryHttp } from './registry-http.js';

let srv: Server;
let host: string;
let ca: string;
let rogue: string;
const seen: string[] = [];

/** An HTTPS registry whose certificate a private CA signs; `/token` hands out a bearer token. */
beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tote-backup-ca-'));
  const authority = createCA(path.join(dir, 'ca'), 'backup-ca');
  rogue = readFileSync(createCA(path.join(dir, 'rogue'), 'rogue-ca').cert, 'utf8');
  ca = readFileSync(authority.cert, 'utf8');
  const leaf = issueCert(authority, { name: 'reg', commonName: 'reg', sans: ['127.0.0.1'], usage: 'server' });
  srv = createServer({ cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }, (req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    if (req.url?.startsWith('/token')) return void res.writeHead(200).end('{"token":"t"}');
    if (req.headers.authorization !== 'Bearer t') {
      return void res
        .writeHead(401, { 'www-authenticate': `Bearer realm="https://${host}/token",service="backup"` })
        .end();
    }
    res.writeHead(200).end('{}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
});

afterAll(async () => {
  srv.closeAllConnections();
  await new Promise((r) => srv.close(r));
});

beforeEach(() => void seen.splice(0));

test('given the private CA, should reach the registry and its token server over verified HTTPS', async () => {
  const reg = new RegistryHttp(host, 'salvaged/app', {}, { insecure: false, ca: [ca] });
  expect((await reg.send({ method: 'GET', url: '/v2/' })).status).toBe(200);
  expect(seen).toEqual([
    'GET /v2/ -',
    'GET /token?service=backup&scope=repository%3Asalvaged%2Fapp%3Apull%2Cpush -',
    'GET /v2/ Bearer t',
  ]);
});

test.each([
  ['no CA', undefined],
  ['another CA', () => [rogue]],
])('given %s, should refuse the certificate with UNAVAILABLE', async (_, extra) => {
  const reg = new RegistryHttp(host, 'salvaged/app', {}, { insecure: false, ca: extra?.() });
  const err = (await reg.send({ method: 'GET', url: '/v2/' }).catch((e: unknown) => e)) as AgentError;
  expect(err).toBeInstanceOf(AgentError);
  expect(err.code).toBe(status.UNAVAILABLE);
  expect((err.cause as { code?: string }).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  expect(seen).toEqual([]);
});
