import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebhookPoster, SIGNATURE_HEADER, signBody, verifySignature } from './webhook.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

async function withReceiver(
  respond: (r: Received) => { status: number; delayMs?: number },
  fn: (url: string, got: Received[]) => Promise<void>,
): Promise<void> {
  const got: Received[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const r = { headers: req.headers, body };
      got.push(r);
      const { status, delayMs = 0 } = respond(r);
      setTimeout(() => res.writeHead(status).end(), delayMs);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`, got);
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
}

test('given a secret, should POST JSON with a signature the receiver can verify', async () => {
  await withReceiver(
    () => ({ status: 202 }),
    async (url, got) => {
      const r = await createWebhookPoster().postJson({
        url,
        body: { event: 'salvaged', n: 1 },
        secret: 's3',
        timeoutMs: 5000,
      });
      expect(r.status).toBe(202);
      expect(got[0]?.headers['content-type']).toBe('application/json');
      expect(JSON.parse(got[0]?.body ?? '')).toEqual({ event: 'salvaged', n: 1 });
      const sig = got[0]?.headers[SIGNATURE_HEADER.toLowerCase()] as string;
      expect(verifySignature('s3', got[0]?.body ?? '', sig)).toBe(true);
      expect(verifySignature('other', got[0]?.body ?? '', sig)).toBe(false);
    },
  );
});

test('given no secret, should send no signature header', async () => {
  await withReceiver(
    () => ({ status: 500 }),
    async (url, got) => {
      expect((await createWebhookPoster().postJson({ url, body: {}, timeoutMs: 5000 })).status).toBe(500);
      expect(got[0]?.headers[SIGNATURE_HEADER.toLowerCase()]).toBeUndefined();
    },
  );
});

test('given a receiver slower than the timeout, should reject', async () => {
  await withReceiver(
    () => ({ status: 200, delayMs: 2000 }),
    async (url) => {
      await expect(createWebhookPoster().postJson({ url, body: {}, timeoutMs: 100 })).rejects.toThrow();
    },
  );
});

test('signBody is the hex HMAC-SHA256 of the body', () => {
  expect(signBody('key', 'The quick brown fox jumps over the lazy dog')).toBe(
    'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
  );
});
