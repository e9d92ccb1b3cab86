/**
 * A small seeded PRNG (mulberry32) so a fault plan is reproducible from one number: `TOTE_FAULT_SEED=<n>` replays
 * the same salvages, components, moments and delays (the timing of the processes themselves still varies).
 */

/** The seed used when `TOTE_FAULT_SEED` is not set: fixed, so CI runs the same plan every time. */
export const DEFAULT_SEED = 20261125;

/** Random helpers over one mulberry32 stream. */
export interface Prng {
  /** The seed the stream started from. */
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** One element of `items` (non-empty). */
  pick<T>(items: readonly T[]): T;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** A shuffled copy of `items` (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[];
}

/** mulberry32: 32-bit state, good enough spread for test plans, and trivially portable. */
export function mulberry32(seed: number): Prng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    seed: seed >>> 0,
    next,
    int,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[int(0, items.length - 1)] as (typeof items)[number];
    },
    chance: (p) => next() < p,
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i);
        [out[i], out[j]] = [out[j] as (typeof out)[number], out[i] as (typeof out)[number]];
      }
      return out;
    },
  };
}

/** Parses a seed (decimal or 0x hex); the default when empty, an error naming the variable when malformed. */
export function parseSeed(raw: string | undefined, name = 'TOTE_FAULT_SEED'): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_SEED;
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff)
    throw new Error(`${name} must be an integer from 0 to 4294967295, got ${JSON.stringify(raw)}`);
  return n;
}
