/**
 * The reconciler's memory of remote (agents, registry) tag resolutions: one `resolveImage` workflow per reference
 * at a time however many pods wait for it, answers kept for a while so a crowd of pods with one tag-only image
 * costs one resolution, and the pods that waited re-queued when the answer comes.
 */
import type { RemoteResolveRequest, RemoteResolveResult, RemoteResolver } from './resolve.js';

/** What is known about one reference. */
export type RemoteState =
  { kind: 'pending' } | { kind: 'done'; result: RemoteResolveResult } | { kind: 'error'; error: unknown };

interface Entry {
  state: RemoteState;
  at: number;
  waiters: Set<string>;
}

/** Options of {@link RemoteCache}. */
export interface RemoteCacheOptions {
  resolver: RemoteResolver;
  /** Re-queues a waiting pod key once its reference settles. */
  requeue(podKey: string): void;
  /** How long an answer (digest or not-found) is reused. @default 600000 (10 min) */
  ttlMs?: number;
  /** @default 1000 */
  maxEntries?: number;
  /** @default Date.now */
  now?: () => number;
}

/** Remote resolutions by reference. */
export class RemoteCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: RemoteCacheOptions) {}

  /**
   * The state for `req.reference`, starting a resolution for `podKey` when nothing fresh is known. An `error`
   * state is handed out once and then forgotten, so the caller's retry starts a new resolution.
   */
  lookup(req: RemoteResolveRequest, podKey: string): RemoteState {
    const now = (this.opts.now ?? Date.now)();
    const e = this.entries.get(req.reference);
    if (e?.state.kind === 'pending') {
      e.waiters.add(podKey);
      return e.state;
    }
    if (e?.state.kind === 'error') {
      this.entries.delete(req.reference);
      return e.state;
    }
    if (e && now - e.at < (this.opts.ttlMs ?? 600_000)) return e.state;
    this.begin(req, podKey, now);
    return { kind: 'pending' };
  }

  /** References being resolved right now. */
  get pending(): number {
    return [...this.entries.values()].filter((e) => e.state.kind === 'pending').length;
  }

  private begin(req: RemoteResolveRequest, podKey: string, now: number): void {
    const entry: Entry = { state: { kind: 'pending' }, at: now, waiters: new Set([podKey]) };
    this.entries.delete(req.reference);
    this.entries.set(req.reference, entry);
    for (const k of this.entries.keys()) {
      if (this.entries.size <= (this.opts.maxEntries ?? 1000)) break;
      if (this.entries.get(k)?.state.kind !== 'pending') this.entries.delete(k);
    }
    const settle = (state: RemoteState): void => {
      entry.state = state;
      entry.at = (this.opts.now ?? Date.now)();
      for (const w of entry.waiters) this.opts.requeue(w);
      entry.waiters.clear();
    };
    this.opts.resolver.resolve(req).then(
      (result) => settle({ kind: 'done', result }),
      (error: unknown) => settle({ kind: 'error', error }),
    );
  }
}
