import { TransferSlotPool } from './slots.js';

const never = new AbortController().signal;

test('given a total cap, should queue the rest in order and hand slots on release', async () => {
  const pool = new TransferSlotPool(2, 0);
  const order: string[] = [];
  const r1 = await pool.acquire('a', never);
  const r2 = await pool.acquire('b', never);
  const third = pool.acquire('c', never).then((r) => (order.push('c'), r));
  const fourth = pool.acquire('d', never).then((r) => (order.push('d'), r));
  expect(pool.active).toBe(2);
  r1();
  r1(); // a second release is a no-op
  (await third)();
  r2();
  (await fourth)();
  expect(order).toEqual(['c', 'd']);
  expect(pool.active).toBe(0);
});

test('given a per-source cap, should let other sources pass a busy one', async () => {
  const pool = new TransferSlotPool(0, 1);
  const rA = await pool.acquire('a', never);
  const waitingA = pool.acquire('a', never);
  const rB = await pool.acquire('b', never); // not blocked by the queued second transfer from a
  expect(pool.active).toBe(2);
  rA();
  (await waitingA)();
  rB();
  expect(pool.active).toBe(0);
});

test('given a cancelled waiter, should drop it from the queue', async () => {
  const pool = new TransferSlotPool(1, 0);
  const r = await pool.acquire('a', never);
  const ac = new AbortController();
  const waiting = pool.acquire('a', ac.signal);
  ac.abort(new Error('cancelled'));
  await expect(waiting).rejects.toThrow('cancelled');
  r();
  expect(pool.active).toBe(0);
  (await pool.acquire('a', never))();
});

test('given tryAcquire, should grant at once below the caps and refuse at them without queueing', () => {
  const pool = new TransferSlotPool(3, 2);
  const a1 = pool.tryAcquire('a');
  const a2 = pool.tryAcquire('a');
  expect(pool.tryAcquire('a')).toBeUndefined();
  expect(pool.runningFrom('a')).toBe(2);
  expect(pool.perSourceCap).toBe(2);
  const b1 = pool.tryAcquire('b');
  expect(pool.tryAcquire('c')).toBeUndefined(); // the worker-wide cap
  a1?.();
  expect(pool.runningFrom('a')).toBe(1);
  expect(pool.tryAcquire('c')).toBeDefined();
  a2?.();
  b1?.();
});
