import { setTimeout as delay } from 'node:timers/promises';

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Sustained budget in bytes per second (> 0). */
  bytesPerSecond: number;
  /**
   * Bytes that may go out at once after an idle period (the bucket's depth). About one chunk: enough that a
   * stream never stalls between two chunks, small enough that the budget holds over any second.
   * @default min(bytesPerSecond, 1 MiB)
   */
  burst?: number;
  /** Clock in milliseconds. @default performance.now */
  now?: () => number;
  /** Waits `ms`; rejects when `signal` aborts. @default node:timers/promises setTimeout */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Told how long each caller was held back, in seconds (a metric). */
  onThrottle?: (seconds: number) => void;
}

const DEFAULT_BURST = 1 << 20;

/**
 * A token bucket shared by every stream of one agent: {@link take} reserves `bytes` and resolves when the bucket
 * has paid for them. A reservation is made at once and may drive the balance below zero (a piece larger than the
 * burst is still sent, later), so callers are served in arrival order and over any interval of `t` seconds at most
 * `burst + bytesPerSecond * t` bytes are granted.
 */
export class RateLimiter {
  readonly bytesPerSecond: number;
  readonly burst: number;
  private tokens: number;
  private last: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly onThrottle?: (seconds: number) => void;

  constructor(opts: RateLimiterOptions) {
    if (!(opts.bytesPerSecond > 0) || !Number.isFinite(opts.bytesPerSecond)) {
      throw new RangeError(`bytesPerSecond must be a positive number, got ${opts.bytesPerSecond}`);
    }
    const burst = opts.burst ?? Math.min(opts.bytesPerSecond, DEFAULT_BURST);
    if (!(burst > 0) || !Number.isFinite(burst)) throw new RangeError(`burst must be positive, got ${burst}`);
    this.bytesPerSecond = opts.bytesPerSecond;
    this.burst = burst;
    this.now = opts.now ?? (() => performance.now());
    this.sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.onThrottle = opts.onThrottle;
    this.tokens = burst;
    this.last = this.now();
  }

  /**
   * Reserves `bytes` and waits until they are paid for. When `signal` aborts during the wait the reservation is
   * returned to the bucket and the promise rejects with the signal's reason.
   */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (bytes <= 0) return;
    this.refill();
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const ms = (-this.tokens / this.bytesPerSecond) * 1000;
    try {
      await this.sleep(ms, signal);
    } catch (err) {
      // Not sent: later callers may use these bytes (their own waits were computed with them spent, so they
      // only ever wait longer than needed, never shorter).
      this.refill();
      this.tokens = Math.min(this.burst, this.tokens + bytes);
      throw err;
    }
    this.onThrottle?.(ms / 1000);
  }

  private refill(): void {
    const t = this.now();
    const elapsed = Math.max(0, t - this.last) / 1000;
    this.last = t;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.bytesPerSecond);
  }
}

/** What {@link throttled} needs of a limiter. */
export type Throttle = Pick<RateLimiter, 'take'>;

/**
 * Yields every piece of `pieces` after `limiter` has granted its bytes (pass-through without a limiter). The wait
 * happens before the piece is handed on, so the consumer never holds more than one piece beyond the budget.
 */
export async function* throttled(
  pieces: AsyncIterable<Uint8Array>,
  limiter: Throttle | undefined,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  if (!limiter) {
    yield* pieces;
    return;
  }
  for await (const piece of pieces) {
    await limiter.take(piece.length, signal);
    yield piece;
  }
}
