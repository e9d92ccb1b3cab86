import { WorkQueue } from './work-queue.js';

test('given a key added while it is processed, it runs once more afterwards and never twice at once', async () => {
  const log: string[] = [];
  let release!: () => void;
  let running = 0;
  let maxRunning = 0;
  const q = new WorkQueue({
    process: async (key) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      log.push(`start ${key}`);
      if (log.length === 1) await new Promise<void>((r) => (release = r));
      log.push(`end ${key}`);
      running--;
    },
  });
  q.add('a');
  q.add('a');
  await new Promise((r) => setImmediate(r));
  q.add('a');
  q.add('a');
  release();
  await q.idle();
  expect(log).toEqual(['start a', 'end a', 'start a', 'end a']);
  expect(maxRunning).toBe(1);
  await q.stop();
});

test('given many keys, at most `concurrency` run together and a failure is retried with backoff', async () => {
  let running = 0;
  let maxRunning = 0;
  const attempts = new Map<string, number>();
  const errors: number[] = [];
  const q = new WorkQueue({
    concurrency: 3,
    initialBackoffMs: 1,
    onError: (_k, _e, wait) => errors.push(wait),
    process: async (key) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (key === 'k0' && n < 3) throw new Error('flaky');
    },
  });
  for (let i = 0; i < 10; i++) q.add(`k${i}`);
  for (let i = 0; i < 200 && attempts.get('k0') !== 3; i++) await new Promise((r) => setTimeout(r, 2));
  await q.idle();
  expect(maxRunning).toBe(3);
  expect(attempts.get('k0')).toBe(3);
  expect(errors).toEqual([1, 2]);
  await q.stop();
});
