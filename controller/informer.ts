/**
 * List-then-watch cache of one resource, keeping only a slim projection of each object in memory.
 *
 * Why not `makeInformer`: in client-node 1.4 it stops on any error other than 410 and has no backoff. This loop
 * relists on 410 Gone (HTTP status or an ERROR event), re-watches from the last resourceVersion after a clean
 * close, retries every other failure with exponential backoff (1 s → 30 s), and gives up (→ `onFatal`, the process
 * exits non-zero) only after failing without pause for `giveUpAfterMs`. The API calls come from a
 * {@link ListWatchSource}, so tests drive the loop with a fake source and an instant `delay`.
 */
import type { Logger } from '../infra/logger.js';
import { backoffMs, isGone, watchError } from './retry.js';

export { backoffMs, isGone } from './retry.js';

/** One page of a list call. */
export interface ListPage<T> {
  /** Objects of this page. */
  items: T[];
  /** The list's resourceVersion (the same on every page of one paginated list). */
  resourceVersion: string;
  /** Token of the next page; absent on the last page. */
  continueToken?: string;
}

/** A running watch; `abort` ends it (its `done` callback then fires). */
export interface WatchHandle {
  /** Closes the connection. */
  abort(): void;
}

/** The API calls an {@link Informer} makes; `kube-sources.ts` implements them over client-node. */
export interface ListWatchSource<T> {
  /** Lists one page; rejects with an error whose `code` or `statusCode` is 410 when `continueToken` expired. */
  list(opts: { limit: number; continueToken?: string }): Promise<ListPage<T>>;
  /** Watches from `resourceVersion`; `onEvent` gets each line, `onDone` fires once (null = clean close). */
  watch(
    opts: { resourceVersion: string; timeoutSeconds: number },
    onEvent: (type: string, obj: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle>;
}

/** What an informer tells its users. Handlers run synchronously; a throw is logged, never propagated. */
export interface InformerHandlers<S> {
  /** A new object (from a watch event or a relist). */
  add?(obj: S): void;
  /** A changed object (its resourceVersion moved). */
  update?(obj: S, old: S): void;
  /** A deleted object, or one that vanished between two lists. */
  delete?(obj: S): void;
}

/** Options of an {@link Informer}. */
export interface InformerOptions<T, S> {
  /** Resource name for logs and metrics, e.g. `pods`. */
  name: string;
  source: ListWatchSource<T>;
  /** Projection kept in memory. */
  slim(obj: T): S;
  /** Cache key of a slim object, e.g. `namespace/name`. */
  key(obj: S): string;
  /** resourceVersion of a slim object. */
  resourceVersion(obj: S): string | undefined;
  logger: Logger;
  /** Sleep; injected so tests run instantly. @default setTimeout-based */
  delay?: (ms: number) => Promise<void>;
  /** First retry delay; doubles per failure up to `maxBackoffMs`. @default 1000 */
  initialBackoffMs?: number;
  /** @default 30000 */
  maxBackoffMs?: number;
  /** Page size of list calls: small pages keep the transient garbage of a 10,000-pod list (and so RSS) low. @default 100 */
  pageSize?: number;
  /** Server-side watch timeout; the watch is renewed from the last resourceVersion after it. @default 300 */
  watchTimeoutSeconds?: number;
  /** Continuous failure after which recovery is deemed impossible. @default 600000 (10 min) */
  giveUpAfterMs?: number;
  /** Called once when giving up; the composition root exits non-zero. */
  onFatal?(err: unknown): void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A watch that ends this quickly without a single event counts as a failure, so a flapping server backs off. */
const MIN_HEALTHY_WATCH_MS = 1000;

/** List-then-watch cache of one resource. Construct, add handlers with {@link on}, then {@link start}. */
export class Informer<T, S> {
  private cache = new Map<string, S>();
  private rv: string | undefined;
  private synced = false;
  private stopped = true;
  private current: WatchHandle | undefined;
  private readonly handlers: InformerHandlers<S>[] = [];
  private readonly syncWaiters: (() => void)[] = [];
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: InformerOptions<T, S>) {}

  /** Adds handlers; call before {@link start} to see the initial list as `add` events. */
  on(h: InformerHandlers<S>): this {
    this.handlers.push(h);
    return this;
  }

  /** Starts the loop in the background. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops the loop and closes the watch; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort();
    await this.loop;
  }

  /** True once the first full list has been stored. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves after the first full list (at once if already synced). */
  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncWaiters.push(r));
  }

  /** The cached object under `key`. */
  get(key: string): S | undefined {
    return this.cache.get(key);
  }

  /** Every cached object. */
  values(): IterableIterator<S> {
    return this.cache.values();
  }

  /** Number of cached objects. */
  get size(): number {
    return this.cache.size;
  }

  /** The last resourceVersion seen (list, event or bookmark). */
  lastResourceVersion(): string | undefined {
    return this.rv;
  }

  private emit(fn: (h: InformerHandlers<S>) => void): void {
    for (const h of this.handlers) {
      try {
        fn(h);
      } catch (err) {
        this.opts.logger.error({ err, resource: this.opts.name }, 'informer handler failed');
      }
    }
  }

  private async run(): Promise<void> {
    const failures = { count: 0, since: 0 };
    while (!this.stopped) {
      try {
        if (this.rv === undefined) await this.relist();
        if (!(await this.watchOnce())) throw new Error('watch closed at once without events');
        failures.count = 0;
      } catch (err) {
        if (this.stopped) break;
        await this.recover(err, failures);
      }
    }
  }

  /** After a failure: relist at once on 410, else back off; gives up after `giveUpAfterMs` of failures. */
  private async recover(err: unknown, failures: { count: number; since: number }): Promise<void> {
    const { initialBackoffMs = 1000, maxBackoffMs = 30_000, giveUpAfterMs = 600_000 } = this.opts;
    const resource = this.opts.name;
    if (isGone(err)) {
      this.opts.logger.info({ resource }, 'resourceVersion expired (410 Gone); relisting');
      this.rv = undefined;
      return;
    }
    failures.count++;
    if (failures.count === 1) failures.since = Date.now();
    if (Date.now() - failures.since >= giveUpAfterMs) {
      this.opts.logger.error({ err, resource }, 'informer cannot recover; giving up');
      this.stopped = true;
      this.opts.onFatal?.(err);
      return;
    }
    const wait = backoffMs(failures.count, initialBackoffMs, maxBackoffMs);
    this.opts.logger.warn({ err, resource, retryInMs: wait }, 'list/watch failed; retrying');
    await (this.opts.delay ?? sleep)(wait);
  }

  /** Lists every page, then replaces the cache, emitting add/update/delete for the differences. */
  private async relist(): Promise<void> {
    const { pageSize = 100 } = this.opts;
    const next = new Map<string, S>();
    let page: ListPage<T> | undefined;
    do {
      page = await this.opts.source.list({ limit: pageSize, continueToken: page?.continueToken });
      for (const item of page.items) {
        const s = this.opts.slim(item);
        next.set(this.opts.key(s), s);
      }
    } while (page.continueToken && !this.stopped);
    if (this.stopped) return;
    const old = this.cache;
    this.cache = next;
    this.rv = page.resourceVersion;
    for (const [k, prev] of old) if (!next.has(k)) this.emit((h) => h.delete?.(prev));
    for (const [k, s] of next) {
      const prev = old.get(k);
      if (!prev) this.emit((h) => h.add?.(s));
      else if (this.opts.resourceVersion(prev) !== this.opts.resourceVersion(s))
        this.emit((h) => h.update?.(s, prev));
    }
    this.markSynced();
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    this.opts.logger.info({ resource: this.opts.name, objects: this.cache.size }, 'informer synced');
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /** One watch from the last resourceVersion; resolves healthy=false when it ended at once with nothing. */
  private async watchOnce(): Promise<boolean> {
    const started = Date.now();
    let events = 0;
    const { watchTimeoutSeconds = 300 } = this.opts;
    // Spread renewals so many replicas (and resources) do not reconnect in lockstep.
    const timeoutSeconds = Math.max(1, Math.round(watchTimeoutSeconds * (0.75 + Math.random() * 0.5)));
    this.current = undefined;
    let failed: unknown;
    let expired = false;
    // client-node 1.4 sets no client-side timeout: if the server never ends the watch, end it ourselves.
    const guard = setTimeout(
      () => {
        expired = true;
        this.current?.abort();
      },
      (timeoutSeconds + 30) * 1000,
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const onEvent = (type: string, obj: unknown): void => {
          events++;
          if (failed) return;
          try {
            this.apply(type, obj);
          } catch (err) {
            failed = err;
            this.current?.abort();
          }
        };
        const onDone = (err: unknown): void => {
          const e = failed ?? (expired ? undefined : err);
          if (e) reject(e);
          else resolve();
        };
        this.opts.source
          .watch({ resourceVersion: this.rv ?? '', timeoutSeconds }, onEvent, onDone)
          .then((h) => {
            this.current = h;
            if (this.stopped || failed) h.abort();
          }, reject);
      });
    } finally {
      clearTimeout(guard);
    }
    return events > 0 || Date.now() - started >= MIN_HEALTHY_WATCH_MS;
  }

  /** Applies one watch event to the cache. Throws {@link GoneError} on 410 and an Error on other ERROR events. */
  private apply(type: string, obj: unknown): void {
    if (type === 'ERROR') throw watchError(obj);
    const rv = (obj as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion;
    if (type === 'ADDED' || type === 'MODIFIED') this.upsert(this.opts.slim(obj as T), rv);
    else if (type === 'DELETED') this.remove(this.opts.slim(obj as T));
    // BOOKMARK (and anything unknown) only moves the resourceVersion.
    if (rv) this.rv = rv;
  }

  private upsert(s: S, rv: string | undefined): void {
    const key = this.opts.key(s);
    const prev = this.cache.get(key);
    this.cache.set(key, s);
    if (!prev) this.emit((h) => h.add?.(s));
    else if (this.opts.resourceVersion(prev) !== rv) this.emit((h) => h.update?.(s, prev));
  }

  private remove(s: S): void {
    const key = this.opts.key(s);
    const prev = this.cache.get(key);
    this.cache.delete(key);
    if (prev) this.emit((h) => h.delete?.(s));
  }
}
