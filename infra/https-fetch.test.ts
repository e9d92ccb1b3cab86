import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchTrusting } from './https-fetch.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(handler: Handler): Promise<{ origin: string; close(): Promise<void> }> {
  const srv = createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    close: () => {
      srv.closeAllConnections();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

const doFetch = fetchTrusting({ ca: [] });

test('given a GET, should answer a standard Response with status, headers and body', async () => {
  const s = await serve((req, res) =>
    res.writeHead(200, { 'x-seen': `${req.method} ${req.headers.accept}` }).end('{"token":"t"}'),
  );
  try {
    const res = await doFetch(`${s.origin}/token`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-seen')).toBe('GET application/json');
    expect(await res.json()).toEqual({ token: 't' });
    const head = await doFetch(`${s.origin}/v2/`, { method: 'HEAD' });
    expect(head.headers.get('x-seen')).toBe('HEAD undefined');
  } finally {
    await s.close();
  }
});

test('given redirects, should follow them and send credentials only to the same origin', async () => {
  const seen: string[] = [];
  const other = await serve((req, res) => {
    seen.push(`other ${req.url} ${req.headers.authorization ?? '-'}`);
    res.writeHead(200).end();
  });
  const s = await serve((req, res) => {
    seen.push(`self ${req.url} ${req.headers.authorization ?? '-'}`);
    if (req.url === '/a') return void res.writeHead(307, { location: '/b' }).end();
    res.writeHead(302, { location: `${other.origin}/c` }).end();
  });
  try {
    const res = await doFetch(`${s.origin}/a`, { headers: { authorization: 'Bearer x' } });
    expect(res.status).toBe(200);
    expect(seen).toEqual(['self /a Bearer x', 'self /b Bearer x', 'other /c -']);
  } finally {
    await Promise.all([s.close(), other.close()]);
  }
});

test('given a redirect loop, should give up', async () => {
  const s = await serve((_, res) => res.writeHead(302, { location: '/again' }).end());
  try {
    await expect(doFetch(`${s.origin}/loop`)).rejects.toThrow('more than 5 redirects');
  } finally {
    await s.close();
  }
});
