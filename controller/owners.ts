/**
 * Cached owner lookups for the workload opt-in: the pod's owners (ReplicaSet, StatefulSet, DaemonSet, Job) and
 * their parents (Deployment, CronJob), two levels and no more. Only pods with a detection in an opted-in
 * namespace get here, so a small TTL cache keeps the apiserver load flat when many pods of one workload fail.
 */
import { ownerChainToFetch, ownerKeyString, parentsToFetch, type OwnerKey } from './opt-in.js';
import { slimOwner, type OwnerObject, type Pod } from './types.js';

/** Reads one owner; null when it does not exist (or is of a kind tote does not follow). */
export interface OwnerFetcher {
  /** Fetches the owner named by `key`. */
  fetch(key: OwnerKey): Promise<OwnerObject | null>;
}

/** Options of {@link OwnerLookup}. */
export interface OwnerLookupOptions {
  fetcher: OwnerFetcher;
  /** How long a found owner is reused: annotation changes on owners take at most this long to apply. @default 60000 */
  ttlMs?: number;
  /** How long a missing owner is remembered. @default 10000 */
  negativeTtlMs?: number;
  /** Cache size cap; the oldest entries go first. @default 5000 */
  maxEntries?: number;
  /** Clock, injected for tests. @default Date.now */
  now?: () => number;
}

interface Entry {
  value: OwnerObject | null;
  expiresAt: number;
}

/** Owner lookups with a TTL cache and one request in flight per owner. */
export class OwnerLookup {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<OwnerObject | null>>();
  private readonly now: () => number;
  /** Requests sent to the apiserver (for tests and metrics). */
  fetches = 0;

  constructor(private readonly opts: OwnerLookupOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * The owners opt-in reads for `pod`: first-level owners, then their parents. A failed read rejects (the caller
   * retries later); a missing owner is just left out.
   */
  async ownersOf(pod: Pod): Promise<OwnerObject[]> {
    const first = await Promise.all(ownerChainToFetch(pod).map((k) => this.get(k)));
    const found = first.filter((o): o is OwnerObject => o !== null);
    const second = await Promise.all(found.flatMap((o) => parentsToFetch(o).map((k) => this.get(k))));
    return [...found, ...second.filter((o): o is OwnerObject => o !== null)];
  }

  /** One owner, from the cache when fresh. */
  async get(key: OwnerKey): Promise<OwnerObject | null> {
    const id = ownerKeyString(key);
    const hit = this.cache.get(id);
    if (hit && hit.expiresAt > this.now()) return hit.value;
    const pending = this.inflight.get(id);
    if (pending) return pending;
    const p = this.load(id, key).finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }

  private async load(id: string, key: OwnerKey): Promise<OwnerObject | null> {
    this.fetches++;
    const raw = await this.opts.fetcher.fetch(key);
    const value = raw ? slimOwner(raw) : null;
    const ttl = value ? (this.opts.ttlMs ?? 60_000) : (this.opts.negativeTtlMs ?? 10_000);
    this.cache.delete(id);
    this.cache.set(id, { value, expiresAt: this.now() + ttl });
    const max = this.opts.maxEntries ?? 5000;
    for (const k of this.cache.keys()) {
      if (this.cache.size <= max) break;
      this.cache.delete(k);
    }
    return value;
  }
}
