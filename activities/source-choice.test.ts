import { TransferSlotPool } from './slots.js';
import { NoServingSourceError, SourcePicker, type PickRequest, type SourceLease } from './source-choice.js';
import type { SourceCandidate } from './types.js';

const DIGEST = `sha256:${'cd'.repeat(32)}`;

const holder = (node: string, over: Partial<SourceCandidate> = {}): SourceCandidate => ({
  node,
  endpoint: `${node}:7443`,
  complete: true,
  sizeBytes: 100,
  hinted: false,
  ...over,
});

function request(over: Partial<PickRequest> = {}): PickRequest {
  return {
    digest: DIGEST,
    target: 't',
    candidates: [holder('a')],
    refresh: async () => [],
    signal: new AbortController().signal,
    ...over,
  };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

/** Resolves `true` if `p` settles before the other queued work of this turn, else `false`. */
async function settledNow(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

test('given free holders, should take the least busy one and never the target itself', async () => {
  const picker = new SourcePicker();
  const cands = [holder('t'), holder('a', { activeExports: 2 }), holder('b', { activeExports: 1 })];
  const lease = await picker.pick(request({ candidates: cands }));
  expect(lease.source.node).toBe('b');
  lease.release();
});

test('given every holder at its per-source cap, should wait and take the slot a finished upload frees', async () => {
  const picker = new SourcePicker({ slots: new TransferSlotPool(0, 1) });
  const first = await picker.pick(request());
  const second = picker.pick(request());
  expect(await settledNow(second)).toBe(false);
  first.release();
  expect((await second).source.node).toBe('a');
});

test('given a waiter and a transfer that completes, should serve the waiter from the new holder at once', async () => {
  const picker = new SourcePicker({ slots: new TransferSlotPool(0, 1) });
  const fromOrigin = await picker.pick(request({ target: 'n2' }));
  const waiting = picker.pick(request({ target: 'n3' }));
  expect(await settledNow(waiting)).toBe(false);
  // n2 completed (its upload slot on a is still held while it verifies): it becomes a source for n3.
  picker.learn(DIGEST, { node: 'n2', address: 'n2:7443' });
  const lease = await waiting;
  expect(lease.source).toMatchObject({ node: 'n2', endpoint: 'n2:7443' });
  fromOrigin.release();
  lease.release();
});

test('given a holder that refused as busy, should take another one and back off that one', async () => {
  const picker = new SourcePicker({ backoff: { baseMs: 60_000, maxMs: 60_000 } });
  expect(picker.refused('a')).toBe(60_000);
  const lease = await picker.pick(request({ candidates: [holder('a'), holder('b', { activeExports: 3 })] }));
  expect(lease.source.node).toBe('b');
  picker.served('a');
  expect(
    (await picker.pick(request({ candidates: [holder('a'), holder('b', { activeExports: 3 })] }))).source
      .node,
  ).toBe('a');
});

test('given refusals in a row, should double the back-off up to its maximum', () => {
  const picker = new SourcePicker({ backoff: { baseMs: 100, maxMs: 350 } });
  expect([1, 2, 3, 4].map(() => picker.refused('a'))).toEqual([100, 200, 350, 350]);
});

test('given waiters while all holders are busy, should ask the inventory once per period for all of them', async () => {
  const picker = new SourcePicker({ slots: new TransferSlotPool(0, 1), refreshEveryMs: 20 });
  const busy = await picker.pick(request());
  let refreshes = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const refresh = async (): Promise<SourceCandidate[]> => {
    refreshes++;
    await gate;
    return [holder('a'), holder('c')];
  };
  const got: SourceLease[] = [];
  for (const target of ['x', 'y']) void picker.pick(request({ target, refresh })).then((l) => got.push(l));
  while (refreshes === 0) await tick();
  release();
  while (got.length === 0) await tick();
  // The refresh found c: one waiter takes it; a is still held by `busy`, so the other waits for it.
  expect(got.map((l) => l.source.node)).toEqual(['c']);
  expect(refreshes).toBe(1);
  busy.release();
  while (got.length < 2) await tick();
  expect(got.map((l) => l.source.node)).toEqual(['c', 'a']);
  for (const l of got) l.release();
}, 10_000);

test('given a cancellation while waiting, should reject with the signal reason', async () => {
  const picker = new SourcePicker({ slots: new TransferSlotPool(0, 1) });
  const busy = await picker.pick(request());
  const ac = new AbortController();
  const waiting = picker.pick(request({ signal: ac.signal }));
  ac.abort(new Error('activity cancelled'));
  await expect(waiting).rejects.toThrow('activity cancelled');
  busy.release();
});

test('given holders that never serve peers, should fail at once instead of waiting forever', async () => {
  const picker = new SourcePicker();
  await expect(picker.pick(request({ candidates: [holder('a', { maxExports: 0 })] }))).rejects.toThrow(
    NoServingSourceError,
  );
});

test('given incomplete or agent-less candidates, should never take them', async () => {
  const picker = new SourcePicker();
  const cands = [holder('a', { complete: false }), holder('b', { endpoint: undefined }), holder('c')];
  expect((await picker.pick(request({ candidates: cands }))).source.node).toBe('c');
});
