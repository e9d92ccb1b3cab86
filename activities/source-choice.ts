/**
 * Fan-out at transfer time (docs/architecture.md): a transfer takes the least busy holder that can take one more upload now
 * (common/source-choice.ts ranks them), and waits while every holder is at its cap instead of failing. Holders
 * that complete in this worker become sources at once ({@link SourcePicker.learn}); holders found by other
 * workers appear when the inventory is asked again (at most once per digest per `refreshEveryMs`, shared by all
 * waiters). A holder whose agent refuses as busy (RESOURCE_EXHAUSTED) backs off before it is tried again.
 */
import { rankSources, servesPeers } from '../common/source-choice.js';
import type { AgentEndpoint, TransferSlots } from './deps.js';
import type { SourceCandidate } from './types.js';

/** A holder with a reachable agent. */
export type ReachableSource = SourceCandidate & { endpoint: string };

/** What {@link SourcePicker.pick} needs for one transfer. */
export interface PickRequest {
  digest: string;
  /** The target node: never its own source. */
  target: string;
  /** Holders the workflow's inventory found. */
  candidates: SourceCandidate[];
  /** Node to take first among equally loaded ones (the previous attempt's source). */
  prefer?: string;
  /** Asks the inventory again (while every holder is at its cap). */
  refresh(): Promise<SourceCandidate[]>;
  signal: AbortSignal;
  /** Called each time the pick starts waiting (the activity heartbeats). */
  onWait?(): void;
}

/** A source granted to one transfer; {@link release} frees its upload slot. */
export interface SourceLease {
  source: ReachableSource;
  release(): void;
}

/** Options of {@link SourcePicker}. */
export interface PickerOptions {
  /** The worker's transfer slots (`--max-concurrent-salvages`, `--max-uploads-per-source`); none: no caps. */
  slots?: TransferSlots;
  /** Clock in ms. @default Date.now */
  now?: () => number;
  /** How often waiters ask the inventory for new holders. @default 10_000 */
  refreshEveryMs?: number;
  /** Back-off of a holder that refused as busy: doubles per refusal, from `baseMs` up to `maxMs`. */
  backoff?: { baseMs: number; maxMs: number };
}

/** Every holder refuses to serve peers (`--max-concurrent-exports 0`): waiting cannot help. */
export class NoServingSourceError extends Error {
  override name = 'NoServingSourceError';
}

/** Longest nap between two looks at the slots, so a release from outside the picker is never missed for long. */
const POLL_MS = 1_000;

/** Digests whose learned holders are kept (most recent first out of the window). */
const LEARNED_DIGESTS = 256;

/** Worker-scoped source choice: one per worker process (built in `createTransferActivities`). */
export class SourcePicker {
  private readonly learned = new Map<string, Map<string, ReachableSource>>();
  private readonly cooling = new Map<string, { until: number; refusals: number }>();
  private readonly refreshes = new Map<string, { at: number; answer: Promise<SourceCandidate[]> }>();
  private readonly wakers = new Set<() => void>();
  private readonly now: () => number;
  private readonly every: number;
  private readonly backoff: { baseMs: number; maxMs: number };

  constructor(private readonly opts: PickerOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.every = opts.refreshEveryMs ?? 10_000;
    this.backoff = opts.backoff ?? { baseMs: 500, maxMs: 8_000 };
  }

  /**
   * Records that `holder` now holds a complete copy of `digest` (a transfer to it finished) and wakes waiters.
   * `load` is what its agent reports (HasImage): a holder whose agent never serves peers is not learned.
   */
  learn(
    digest: string,
    holder: AgentEndpoint,
    load: Pick<SourceCandidate, 'activeExports' | 'maxExports'> = {},
  ): void {
    if (load.maxExports === 0) return;
    const known = this.learned.get(digest) ?? new Map<string, ReachableSource>();
    this.learned.delete(digest);
    known.set(holder.node, {
      node: holder.node,
      endpoint: holder.address,
      complete: true,
      sizeBytes: 0,
      hinted: false,
      ...load,
    });
    this.learned.set(digest, known);
    for (const old of this.learned.keys()) {
      if (this.learned.size <= LEARNED_DIGESTS) break;
      this.learned.delete(old);
    }
    this.wake();
  }

  /** `node` refused as busy: it is left out for a back-off that doubles per refusal; returns that back-off. */
  refused(node: string): number {
    const refusals = (this.cooling.get(node)?.refusals ?? 0) + 1;
    const ms = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** (refusals - 1));
    this.cooling.set(node, { until: this.now() + ms, refusals });
    return ms;
  }

  /** `node` served a transfer: its back-off is forgotten. */
  served(node: string): void {
    this.cooling.delete(node);
  }

  /**
   * The least busy holder with a free slot, waiting while every one is at its cap. Rejects with the signal's
   * reason when it aborts, and with {@link NoServingSourceError} when no holder serves peers at all.
   */
  async pick(req: PickRequest): Promise<SourceLease> {
    let pool = this.merge(req.digest, req.candidates, req.target);
    let refreshAt = this.now() + this.every;
    for (;;) {
      req.signal.throwIfAborted();
      const lease = this.tryLease(pool, req.prefer);
      if (lease) return lease;
      if (!pool.some(servesPeers)) {
        throw new NoServingSourceError(
          `no holder of ${req.digest} serves peers (${pool.map((c) => c.node).join(', ') || 'none reachable'})`,
        );
      }
      req.onWait?.();
      await this.sleep(req.signal, Math.min(refreshAt, this.nextCoolingEnd(), this.now() + POLL_MS));
      let fresh: SourceCandidate[] = pool;
      if (this.now() >= refreshAt) {
        fresh = await this.refreshed(req).catch(() => pool);
        refreshAt = this.now() + this.every;
      }
      pool = this.merge(req.digest, fresh, req.target);
    }
  }

  private tryLease(pool: ReachableSource[], prefer: string | undefined): SourceLease | undefined {
    const slots = this.opts.slots;
    const now = this.now();
    const ranked = rankSources(pool, {
      running: (n) => slots?.runningFrom?.(n) ?? 0,
      perSourceCap: slots?.perSourceCap,
      unavailable: (n) => (this.cooling.get(n)?.until ?? 0) > now,
      prefer,
    });
    for (const source of ranked) {
      const release = slots?.tryAcquire ? slots.tryAcquire(source.node) : (): void => undefined;
      if (!release) continue;
      let done = false;
      return {
        source,
        release: () => {
          if (done) return;
          done = true;
          release();
          this.wake();
        },
      };
    }
    return undefined;
  }

  /** Candidates with an agent, plus holders learned in this worker, without the target; later entries win. */
  private merge(digest: string, candidates: SourceCandidate[], target: string): ReachableSource[] {
    const byNode = new Map<string, ReachableSource>();
    for (const c of [...(this.learned.get(digest)?.values() ?? []), ...candidates]) {
      if (c.endpoint && c.complete && c.node !== target) byNode.set(c.node, c as ReachableSource);
    }
    return [...byNode.values()];
  }

  /** One inventory refresh per digest per period, shared by every waiter of that digest. */
  private refreshed(req: PickRequest): Promise<SourceCandidate[]> {
    const now = this.now();
    for (const [d, r] of this.refreshes) if (now - r.at >= this.every) this.refreshes.delete(d);
    let r = this.refreshes.get(req.digest);
    if (!r) {
      r = { at: now, answer: req.refresh() };
      // A failed refresh is not cached: the next waiter asks again.
      r.answer.catch(() => this.refreshes.delete(req.digest));
      this.refreshes.set(req.digest, r);
    }
    return r.answer;
  }

  private nextCoolingEnd(): number {
    const now = this.now();
    let next = Infinity;
    // Entries stay after their back-off ends (the refusal count doubles the next one) until the node serves.
    for (const c of this.cooling.values()) if (c.until > now) next = Math.min(next, c.until);
    return next;
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** Resolves at `until` or at the next wake-up; rejects when `signal` aborts. */
  private sleep(signal: AbortSignal, until: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (err?: unknown): void => {
        clearTimeout(timer);
        this.wakers.delete(onWake);
        signal.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onWake = (): void => finish();
      const onAbort = (): void => finish(signal.reason ?? new Error('aborted'));
      const timer = setTimeout(onWake, Math.max(0, until - this.now()));
      this.wakers.add(onWake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
