import { randomBytes } from 'node:crypto';
import { drain, startCluster } from '../test/agent-contract/cluster.js';
import { memImage, seedImage } from '../test/agent-contract/images.js';
import { RateLimiter, throttled, type Throttle } from './rate.js';

/** A clock that only moves when the limiter sleeps: waits are exact and instant. */
function fakeTime() {
  const t = { now: 0, sleeps: [] as number[] };
  const sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    signal?.throwIfAborted();
    t.sleeps.push(ms);
    t.now += ms;
    return Promise.resolve();
  };
  return { t, now: () => t.now, sleep };
}

async function* pieces(sizes: number[]): AsyncGenerator<Uint8Array> {
  for (const n of sizes) yield new Uint8Array(n);
  await Promise.resolve();
}

test('the burst goes out at once, then each byte costs 1/rate seconds', async () => {
  const { t, now, sleep } = fakeTime();
  const rl = new RateLimiter({ bytesPerSecond: 1000, burst: 500, now, sleep });
  await rl.take(500);
  expect(t.sleeps).toEqual([]);
  await rl.take(250);
  expect(t.now).toBeCloseTo(250);
  await rl.take(1000);
  expect(t.now).toBeCloseTo(1250);
});

test('the bucket refills while idle, but never beyond the burst', async () => {
  const { t, now, sleep } = fakeTime();
  const rl = new RateLimiter({ bytesPerSecond: 1000, burst: 100, now, sleep });
  await rl.take(100);
  t.now += 60_000; // a minute idle earns only the burst
  await rl.take(100);
  expect(t.sleeps).toEqual([]);
  await rl.take(100);
  expect(t.sleeps).toHaveLength(1);
  expect(t.sleeps[0]).toBeCloseTo(100);
});

test('a piece larger than the burst is granted, after the time it costs', async () => {
  const { t, now, sleep } = fakeTime();
  const rl = new RateLimiter({ bytesPerSecond: 1 << 20, burst: 1 << 16, now, sleep });
  await rl.take(4 << 20);
  expect(t.now).toBeCloseTo(4000 - (1000 * (1 << 16)) / (1 << 20));
});

test('concurrent callers share one budget (two streams each get half)', async () => {
  let clock = 0;
  const waits: { ms: number; resolve: () => void }[] = [];
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => waits.push({ ms, resolve }));
  const rl = new RateLimiter({ bytesPerSecond: 1000, burst: 100, now: () => clock, sleep });
  await rl.take(100);
  const a = rl.take(100);
  const b = rl.take(100);
  // Reservations are made at once, in order: the second waits for the first one's bytes too.
  expect(waits.map((w) => w.ms)).toEqual([100, 200]);
  clock = 200;
  for (const w of waits) w.resolve();
  await Promise.all([a, b]);
});

test('an aborted wait rejects and returns its bytes to the bucket', async () => {
  let clock = 0;
  const sleep = (_ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((_resolve, reject) =>
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
    );
  const rl = new RateLimiter({ bytesPerSecond: 1000, burst: 100, now: () => clock, sleep });
  await rl.take(100);
  const ac = new AbortController();
  const waiting = rl.take(100, ac.signal);
  ac.abort(new Error('caller gone'));
  await expect(waiting).rejects.toThrow('caller gone');
  clock = 100; // 100 ms earn 100 bytes: enough again, as the aborted bytes were refunded
  await expect(rl.take(100)).resolves.toBeUndefined();
  await expect(rl.take(1, AbortSignal.abort())).rejects.toThrow();
});

test('a refund after a long aborted wait never fills the bucket beyond the burst', async () => {
  let clock = 0;
  const waits: number[] = [];
  const sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    waits.push(ms);
    if (!signal) return Promise.resolve();
    return new Promise((_resolve, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
    );
  };
  const rl = new RateLimiter({ bytesPerSecond: 1000, burst: 100, now: () => clock, sleep });
  await rl.take(100);
  const ac = new AbortController();
  const waiting = rl.take(500, ac.signal);
  clock = 400; // 400 of the 500 bytes paid for; another stream takes 1 byte, then the first caller goes away
  await rl.take(1);
  ac.abort(new Error('gone'));
  await expect(waiting).rejects.toThrow('gone');
  await rl.take(100); // the burst, at once
  await rl.take(1); // and no more than the burst
  expect(waits).toEqual([500, 101, 1]);
});

test('the real clock: a wait can be aborted', async () => {
  const rl = new RateLimiter({ bytesPerSecond: 1, burst: 1 });
  await rl.take(1);
  const ac = new AbortController();
  const waiting = rl.take(3600, ac.signal);
  ac.abort();
  await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
});

test('throttle time is reported', async () => {
  const { now, sleep } = fakeTime();
  const seconds: number[] = [];
  const rl = new RateLimiter({ bytesPerSecond: 1000, now, sleep, onThrottle: (s) => seconds.push(s) });
  expect(rl.burst).toBe(1000); // default: one second of budget when that is below 1 MiB
  await rl.take(1000);
  await rl.take(500);
  expect(seconds).toEqual([0.5]);
});

test('invalid rates and bursts are refused', () => {
  for (const bytesPerSecond of [0, -1, NaN, Infinity]) {
    expect(() => new RateLimiter({ bytesPerSecond })).toThrow(RangeError);
  }
  expect(() => new RateLimiter({ bytesPerSecond: 10, burst: 0 })).toThrow(RangeError);
  expect(new RateLimiter({ bytesPerSecond: 100 << 20 }).burst).toBe(1 << 20);
});

test('throttled() passes pieces through unchanged without a limiter', async () => {
  const out = await drain(throttled(pieces([3, 5]), undefined));
  expect(out.map((p) => p.length)).toEqual([3, 5]);
});

test('throttled() asks for every piece before handing it on', async () => {
  const log: string[] = [];
  const limiter: Throttle = {
    take: (n) => {
      log.push(`take ${n}`);
      return Promise.resolve();
    },
  };
  for await (const p of throttled(pieces([3, 5]), limiter)) log.push(`got ${p.length}`);
  expect(log).toEqual(['take 3', 'got 3', 'take 5', 'got 5']);
});

test('throttled() over a fake clock: elapsed time is size/rate minus the burst', async () => {
  const { t, now, sleep } = fakeTime();
  const rl = new RateLimiter({ bytesPerSecond: 64 * 1024, burst: 16 * 1024, now, sleep });
  const out = await drain(throttled(pieces(Array<number>(16).fill(16 * 1024)), rl));
  expect(out).toHaveLength(16);
  expect(t.now).toBeCloseTo(((256 - 16) / 64) * 1000);
});

test('ReadBlob streams pass through the agent upload limiter', async () => {
  const taken: number[] = [];
  const uploadLimiter: Throttle = {
    take: (n) => {
      taken.push(n);
      return Promise.resolve();
    },
  };
  const cluster = await startCluster(['a'], { uploadLimiter });
  try {
    const a = cluster.agents.a;
    if (!a) throw new Error('agent a');
    const img = memImage({ layerSizes: [300_000] });
    seedImage(a.store, img, 'docker.io/library/app:1');
    const token = randomBytes(24).toString('base64url');
    const session = { token, digest: img.root.digest, sourceNode: 'a', targetNode: 'c', ttlSeconds: 60 };
    await a.client.prepareExport({ session, digest: img.root.digest });
    const layer = img.platforms[0]?.layers[0]?.digest ?? '';
    const chunks = await drain(a.client.readBlob({ token, digest: layer, offset: '100000', node: 'c' }));
    const sent = chunks.reduce((n, c) => n + c.data.length, 0);
    expect(sent).toBe(200_000);
    expect(taken.reduce((n, x) => n + x, 0)).toBe(200_000);
  } finally {
    await cluster.stop();
  }
});
