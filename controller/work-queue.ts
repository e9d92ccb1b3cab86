/**
 * A keyed work queue in the style of client-go's workqueue: a key queued many times is processed once, a key is
 * never processed by two workers at once (a key queued while it is processed runs again afterwards), and failures
 * are retried per key with exponential backoff. It gives per-pod ordering without one global lock.
 *
 * Its metrics follow client-go's meaning (controller-runtime's `workqueue_*` series): an add is counted when a key
 * becomes pending (not when it already is), depth is the pending keys (queued, or queued again while processed;
 * not the ones being processed or waiting for a retry), queue time runs from that add to the start of processing.
 */
import type { WorkQueueMetrics } from './ports.js';
import { backoffMs } from './retry.js';

/** Options of {@link WorkQueue}. */
export interface WorkQueueOptions {
  /** Processes one key; a rejection schedules a retry. */
  process(key: string): Promise<void>;
  /** Keys processed at the same time. @default 8 */
  concurrency?: number;
  /** First retry delay of a failing key. @default 1000 */
  initialBackoffMs?: number;
  /** @default 30000 */
  maxBackoffMs?: number;
  /** Called with every failure (for logs), never throws. */
  onError?(key: string, err: unknown, retryInMs: number): void;
  /** Where adds, depth, queue and work times and retries go. */
  metrics?: WorkQueueMetrics;
  /** Clock in milliseconds, for the metrics' durations. @default performance.now */
  now?(): number;
}

/** Keyed, deduplicating, bounded-concurrency queue with per-key retry backoff. */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** When each pending key was added (ms on {@link now}). */
  private readonly addedAt = new Map<string, number>();
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: WorkQueueOptions) {}

  /** Queues `key` unless it is queued already; a key being processed is run once more after. */
  add(key: string): void {
    if (this.stopped || this.queued.has(key) || this.dirty.has(key)) return;
    this.opts.metrics?.added();
    this.addedAt.set(key, this.now());
    if (this.active.has(key)) {
      this.dirty.add(key);
      this.reportDepth();
      return;
    }
    this.push(key);
  }

  /** Drops retry state of `key` (its object is gone). */
  forget(key: string): void {
    this.failures.delete(key);
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    this.timers.delete(key);
  }

  /** Keys waiting, being processed, or waiting for a retry. */
  get depth(): number {
    return this.queued.size + this.active.size + this.timers.size;
  }

  /** Resolves when nothing is queued or running (retry timers may still be pending). */
  idle(): Promise<void> {
    if (this.queued.size === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops taking work, cancels retries, and waits for running keys to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    this.dirty.clear();
    this.addedAt.clear();
    this.reportDepth();
    while (this.active.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }

  private reportDepth(): void {
    this.opts.metrics?.depth(this.queued.size + this.dirty.size);
  }

  private push(key: string): void {
    if (this.stopped) return;
    this.queued.add(key);
    this.queue.push(key);
    this.reportDepth();
    this.pump();
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 8;
    while (this.running < limit && this.queue.length > 0 && !this.stopped) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      const added = this.addedAt.get(key);
      this.addedAt.delete(key);
      if (added !== undefined) this.opts.metrics?.queued((this.now() - added) / 1000);
      this.reportDepth();
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    const started = this.now();
    try {
      await this.opts.process(key);
      this.failures.delete(key);
    } catch (err) {
      this.retryLater(key, err);
    } finally {
      this.opts.metrics?.worked((this.now() - started) / 1000);
      this.active.delete(key);
      this.running--;
      // Already counted as an add when it was queued during processing.
      if (this.dirty.delete(key)) this.push(key);
      this.pump();
      if (this.queued.size === 0 && this.active.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private retryLater(key: string, err: unknown): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const wait = backoffMs(n, this.opts.initialBackoffMs ?? 1000, this.opts.maxBackoffMs ?? 30_000);
    try {
      this.opts.onError?.(key, err, wait);
    } catch {
      // logging must not break the queue
    }
    if (this.stopped || this.timers.has(key)) return;
    this.opts.metrics?.retried();
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, wait);
    t.unref();
    this.timers.set(key, t);
  }
}
