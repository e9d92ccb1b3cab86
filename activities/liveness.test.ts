import { MockActivityEnvironment } from '@temporalio/testing';
import { keepAlive, withLiveness } from './liveness.js';

test('keepAlive beats at once with its details, and returns what the work returns', async () => {
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const r = await env.run(() =>
    keepAlive(
      async () => 42,
      () => ({ step: 1 }),
    ),
  );
  expect(r).toBe(42);
  expect(beats).toEqual([{ step: 1 }]);
});

test('withLiveness wraps the listed activities only, keeping their arguments and failures', async () => {
  const acts = {
    slow: async (a: number, b: number): Promise<number> => a + b,
    failing: async (): Promise<never> => Promise.reject(new Error('boom')),
    quick: async (): Promise<string> => 'q',
  };
  const live = withLiveness(acts, ['slow', 'failing']);
  const env = new MockActivityEnvironment();
  let beats = 0;
  env.on('heartbeat', () => beats++);
  expect(await env.run(live.slow, 1, 2)).toBe(3);
  await expect(env.run(live.failing)).rejects.toThrow('boom');
  expect(beats).toBe(2);
  expect(live.quick).toBe(acts.quick);
});
