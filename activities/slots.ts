/**
 * Transfer slots: at most `total` transfers in one worker and at most `perSource` from one source node, so one
 * popular node is not asked to serve every salvage at once (docs/architecture.md, fan-out with a cap per source).
 */
import type { TransferSlots } from './deps.js';

interface Waiter {
  source: string;
  grant: (release: () => void) => void;
}

/** A FIFO-fair implementation of {@link TransferSlots}. */
export class TransferSlotPool implements TransferSlots {
  private running = 0;
  private readonly perSourceRunning = new Map<string, number>();
  private readonly queue: Waiter[] = [];

  /** `total` and `perSource` of 0 mean unlimited. */
  constructor(
    private readonly total: number,
    private readonly perSource: number,
  ) {}

  /** Transfers running now. */
  get active(): number {
    return this.running;
  }

  /** The per-source cap (`--max-uploads-per-source`); 0 means none. */
  get perSourceCap(): number {
    return this.perSource;
  }

  /** Transfers running now from `sourceNode`. */
  runningFrom(sourceNode: string): number {
    return this.perSourceRunning.get(sourceNode) ?? 0;
  }

  /**
   * A slot for `sourceNode` at once, or undefined when the worker or that source is at its cap. Queued
   * {@link acquire} calls are never jumped: a release grants them synchronously, before any caller looks again.
   */
  tryAcquire(sourceNode: string): (() => void) | undefined {
    return this.fits(sourceNode) ? this.take(sourceNode) : undefined;
  }

  acquire(sourceNode: string, signal: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason ?? new Error('aborted'));
      const waiter: Waiter = { source: sourceNode, grant: resolve };
      const onAbort = (): void => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal.reason ?? new Error('aborted'));
      };
      waiter.grant = (release) => {
        signal.removeEventListener('abort', onAbort);
        resolve(release);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  private fits(source: string): boolean {
    const bySource = this.perSourceRunning.get(source) ?? 0;
    return (
      (this.total <= 0 || this.running < this.total) && (this.perSource <= 0 || bySource < this.perSource)
    );
  }

  private pump(): void {
    for (let i = 0; i < this.queue.length;) {
      const w = this.queue[i] as Waiter;
      if (!this.fits(w.source)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      w.grant(this.take(w.source));
    }
  }

  private take(source: string): () => void {
    this.running++;
    this.perSourceRunning.set(source, (this.perSourceRunning.get(source) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.perSourceRunning.set(source, (this.perSourceRunning.get(source) ?? 1) - 1);
      this.pump();
    };
  }
}
