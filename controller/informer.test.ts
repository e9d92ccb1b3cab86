import { pino } from 'pino';
import { backoffMs, Informer, isGone, type ListPage, type ListWatchSource } from './informer.js';

interface Obj {
  metadata: { name: string; resourceVersion: string; extra?: string };
}

interface OpenWatch {
  rv: string;
  emit(type: string, obj: unknown): void;
  end(err?: unknown): void;
}

/** A scripted list/watch: lists return `objects` (paged), watches wait for the test to drive them. */
class FakeSource implements ListWatchSource<Obj> {
  objects: Obj[] = [];
  listRv = '10';
  listFailures: unknown[] = [];
  lists = 0;
  watches: OpenWatch[] = [];
  private waiters: ((w: OpenWatch) => void)[] = [];

  async list(opts: { limit: number; continueToken?: string }): Promise<ListPage<Obj>> {
    const fail = this.listFailures.shift();
    if (fail) throw fail;
    if (!opts.continueToken) this.lists++;
    const start = Number(opts.continueToken ?? 0);
    const items = this.objects.slice(start, start + opts.limit);
    const next = start + opts.limit;
    return {
      items,
      resourceVersion: this.listRv,
      continueToken: next < this.objects.length ? String(next) : undefined,
    };
  }

  async watch(
    opts: { resourceVersion: string },
    onEvent: (type: string, obj: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<{ abort(): void }> {
    let done = false;
    const end = (err?: unknown): void => {
      if (done) return;
      done = true;
      onDone(err ?? null);
    };
    const w: OpenWatch = { rv: opts.resourceVersion, emit: onEvent, end };
    this.watches.push(w);
    this.waiters.shift()?.(w);
    return { abort: () => end(Object.assign(new Error('aborted'), { name: 'AbortError' })) };
  }

  /** The next watch opened (or the last one if it is still the newest unconsumed). */
  nextWatch(): Promise<OpenWatch> {
    return new Promise((r) => this.waiters.push(r));
  }
}

const obj = (name: string, rv: string): Obj => ({ metadata: { name, resourceVersion: rv, extra: 'x' } });

function makeInformer(source: FakeSource, delays: number[], extra: { onFatal?: (e: unknown) => void } = {}) {
  const events: string[] = [];
  const informer = new Informer<Obj, Obj>({
    name: 'things',
    source,
    slim: (o) => ({ metadata: { name: o.metadata.name, resourceVersion: o.metadata.resourceVersion } }),
    key: (o) => o.metadata.name,
    resourceVersion: (o) => o.metadata.resourceVersion,
    logger: pino({ level: 'silent' }),
    delay: async (ms) => {
      delays.push(ms);
    },
    pageSize: 2,
    giveUpAfterMs: extra.onFatal ? 0 : 600_000,
    onFatal: extra.onFatal,
  });
  informer.on({
    add: (o) => events.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
    update: (o, old) =>
      events.push(`update ${o.metadata.name}@${old.metadata.resourceVersion}->${o.metadata.resourceVersion}`),
    delete: (o) => events.push(`delete ${o.metadata.name}`),
  });
  return { informer, events };
}

test('given a paged list, the informer stores slim copies of every page and watches from the list RV', async () => {
  const source = new FakeSource();
  source.objects = [obj('a', '1'), obj('b', '2'), obj('c', '3')];
  const { informer, events } = makeInformer(source, []);
  const watch = source.nextWatch();
  informer.start();
  await informer.waitForSync();
  expect(events).toEqual(['add a@1', 'add b@2', 'add c@3']);
  expect(informer.get('a')).toEqual({ metadata: { name: 'a', resourceVersion: '1' } });
  expect((await watch).rv).toBe('10');
  await informer.stop();
});

test('given watch events, the cache follows them and an unchanged resourceVersion emits no update', async () => {
  const source = new FakeSource();
  source.objects = [obj('a', '1')];
  const { informer, events } = makeInformer(source, []);
  const first = source.nextWatch();
  informer.start();
  const w = await first;
  w.emit('ADDED', obj('b', '11'));
  w.emit('MODIFIED', obj('a', '12'));
  w.emit('MODIFIED', obj('a', '12'));
  w.emit('DELETED', obj('b', '13'));
  w.emit('BOOKMARK', { metadata: { resourceVersion: '20' } });
  expect(events).toEqual(['add a@1', 'add b@11', 'update a@1->12', 'delete b']);
  expect(informer.size).toBe(1);
  expect(informer.lastResourceVersion()).toBe('20');
  const second = source.nextWatch();
  w.end();
  expect((await second).rv).toBe('20');
  expect(source.lists).toBe(1);
  await informer.stop();
});

test('given a 410 ERROR event, the informer relists and emits deletes for objects that vanished', async () => {
  const source = new FakeSource();
  source.objects = [obj('a', '1'), obj('b', '2')];
  const delays: number[] = [];
  const { informer, events } = makeInformer(source, delays);
  const first = source.nextWatch();
  informer.start();
  const w = await first;
  source.objects = [obj('a', '5'), obj('c', '6')];
  source.listRv = '30';
  const second = source.nextWatch();
  w.emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
  expect((await second).rv).toBe('30');
  expect(events.slice(2)).toEqual(['delete b', 'update a@1->5', 'add c@6']);
  expect(source.lists).toBe(2);
  expect(delays).toEqual([]);
  await informer.stop();
});

test('given failing lists, the informer backs off exponentially up to 30 s and then syncs', async () => {
  const source = new FakeSource();
  source.objects = [obj('a', '1')];
  source.listFailures = Array.from({ length: 7 }, () => Object.assign(new Error('connection refused')));
  const delays: number[] = [];
  const { informer } = makeInformer(source, delays);
  informer.start();
  await informer.waitForSync();
  expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  await informer.stop();
});

test('given a watch that fails with a non-410 error, the informer re-watches from the same RV after a backoff', async () => {
  const source = new FakeSource();
  const delays: number[] = [];
  const { informer } = makeInformer(source, delays);
  const first = source.nextWatch();
  informer.start();
  const second = source.nextWatch();
  (await first).end(Object.assign(new Error('Internal Server Error'), { statusCode: 500 }));
  expect((await second).rv).toBe('10');
  expect(delays).toEqual([1000]);
  expect(source.lists).toBe(1);
  await informer.stop();
});

test('given a watch that returns HTTP 410, the informer relists without backoff', async () => {
  const source = new FakeSource();
  const delays: number[] = [];
  const { informer } = makeInformer(source, delays);
  const first = source.nextWatch();
  informer.start();
  source.listRv = '40';
  const second = source.nextWatch();
  (await first).end(Object.assign(new Error('Gone'), { statusCode: 410 }));
  expect((await second).rv).toBe('40');
  expect(source.lists).toBe(2);
  expect(delays).toEqual([]);
  await informer.stop();
});

test('given failures past giveUpAfterMs, the informer stops and reports fatal', async () => {
  const source = new FakeSource();
  source.listFailures = [new Error('forbidden')];
  let onFatal!: (e: unknown) => void;
  const fatal = new Promise<unknown>((r) => (onFatal = r));
  const { informer } = makeInformer(source, [], { onFatal });
  informer.start();
  expect(String(await fatal)).toContain('forbidden');
  await informer.stop();
  expect(informer.hasSynced()).toBe(false);
});

test('given a throwing handler, the informer logs it and keeps going', async () => {
  const source = new FakeSource();
  source.objects = [obj('a', '1'), obj('b', '2')];
  const { informer, events } = makeInformer(source, []);
  informer.on({
    add: () => {
      throw new Error('boom');
    },
  });
  informer.start();
  await informer.waitForSync();
  expect(events).toEqual(['add a@1', 'add b@2']);
  await informer.stop();
});

test('backoff and isGone helpers', () => {
  expect([1, 2, 3, 6, 7, 20].map((n) => backoffMs(n, 1000, 30_000))).toEqual([
    1000, 2000, 4000, 30000, 30000, 30000,
  ]);
  expect(isGone({ code: 410 })).toBe(true);
  expect(isGone({ statusCode: 410 })).toBe(true);
  expect(isGone(new Error('x'))).toBe(false);
  expect(isGone(undefined)).toBe(false);
});
