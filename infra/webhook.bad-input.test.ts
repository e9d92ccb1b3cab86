/**
 * Bad receivers (issue 8 item 4): a webhook endpoint that never answers, answers 500, closes the connection
 * before or in the middle of its answer, or speaks no HTTP. Each POST ends with a clear error (or the status
 * that was sent) in bounded time, the notify activity turns it into a typed failure the salvage workflow only
 * logs, and the same poster keeps delivering to a healthy receiver afterwards.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { fakeConfig, fakeDeps } from '../activities/fake-deps.js';
import { createNotifyActivities, type WebhookInput } from '../activities/notify.js';
import { createWebhookPoster } from './webhook.js';

/** What the raw receiver does once it has read a request's headers, by path. */
const BEHAVIOUR: Record<string, (s: Socket) => void> = {
  '/ok': (s) => s.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'),
  '/hang': () => undefined,
  '/500': (s) =>
    s.end(
      'HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{"error":"boom"}\n',
    ),
  '/close-before-answer': (s) => s.destroy(),
  '/close-mid-answer': (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial');
    setImmediate(() => s.destroy());
  },
  '/close-mid-status-line': (s) => {
    s.write('HTTP/1.1 50');
    setImmediate(() => s.destroy());
  },
  '/not-http': (s) => s.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'),
};

let server: Server;
let base: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let head = '';
    s.on('data', (c: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = /^POST (\S+) /.exec(head)?.[1] ?? '';
      (BEHAVIOUR[path] ?? BEHAVIOUR['/500'])?.(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const poster = createWebhookPoster();
const post = (path: string, timeoutMs = 500) =>
  poster.postJson({ url: `${base}${path}`, body: { event: 'salvaged' }, secret: 'k', timeoutMs });

/** A POST that should fail: its error. */
async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  // Duck-typed: undici's errors come from Node's realm, not Jest's.
  if (typeof (err as Error | undefined)?.message !== 'string') throw new Error('expected a failure');
  return err as Error;
}

/** Every message in an error's cause chain, outermost first. */
function chain(err: unknown): string {
  const out: string[] = [];
  for (let e = err as Error | undefined; e?.message !== undefined; e = e.cause as Error | undefined) {
    out.push(e.message);
  }
  return out.join(' <- ');
}

describe('createWebhookPoster against a misbehaving receiver', () => {
  afterEach(async () => {
    // The process keeps serving: the same poster delivers to a healthy receiver right after.
    expect(await post('/ok')).toEqual({ status: 204 });
  });

  test('given a receiver that never answers, should fail with a timeout error naming the limit', async () => {
    const err = await failure(post('/hang', 300));
    expect(chain(err)).toMatch(/300 ms/);
    expect(chain(err)).toMatch(/timed? ?out|timeout/i);
  });

  test('given HTTP 500, should resolve with the status (the activity decides)', async () => {
    expect(await post('/500')).toEqual({ status: 500 });
  });

  test('given a connection closed before any answer, should fail naming the receiver and the cause', async () => {
    const err = await failure(post('/close-before-answer'));
    expect(chain(err)).toContain(new URL(base).host);
    expect(chain(err)).toMatch(/closed|socket|reset/i);
  });

  test('given a connection closed in the middle of the status line, should fail', async () => {
    const err = await failure(post('/close-mid-status-line'));
    expect(chain(err)).toContain(new URL(base).host);
  });

  test('given a connection closed in the middle of a 2xx body, should report the status the receiver sent', async () => {
    // The receiver accepted the event (its status line says so); a truncated body carries nothing tote reads.
    expect(await post('/close-mid-answer')).toEqual({ status: 200 });
  });

  test('given something that is not HTTP, should fail', async () => {
    const err = await failure(post('/not-http'));
    expect(chain(err)).toContain(new URL(base).host);
  });
});

describe('sendWebhook with the real poster against a misbehaving receiver', () => {
  const input: WebhookInput = { event: 'salvaged', workflowId: 'salvage/sha256:x/node-2', data: {} };
  const send = (path: string) => {
    const deps = fakeDeps({
      config: fakeConfig({ webhook: { url: `${base}${path}`, events: [], timeoutMs: 300 } }),
      http: poster,
    });
    return new MockActivityEnvironment().run(createNotifyActivities(deps).sendWebhook, input).then(
      (r) => r,
      (e: unknown) => e,
    );
  };

  test.each([
    ['/hang', 'TransientError', /webhook salvaged: .*300 ms/],
    ['/500', 'WebhookRejected', /webhook salvaged answered HTTP 500/],
    ['/close-before-answer', 'TransientError', /webhook salvaged: .*127\.0\.0\.1/],
    ['/not-http', 'TransientError', /webhook salvaged: .*127\.0\.0\.1/],
  ])('given %s, should fail with a retryable %s', async (path, type, message) => {
    const err = await send(path);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const f = err as ApplicationFailure;
    expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type, nonRetryable: false });
    expect(f.message).toMatch(message);
    expect(await send('/ok')).toEqual({ sent: true, status: 204 });
  });
});
