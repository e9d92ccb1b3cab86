// The fault plan is a pure function of the seed: a replay gets the same salvages and faults, a shorter run is a
// prefix of the full one, and any five consecutive salvages from the start kill every component once.
import { COMPONENTS, MOMENTS, generatePlan } from './plan.js';
import { mulberry32, parseSeed, DEFAULT_SEED } from './prng.js';

test('given the same seed, should generate the same plan; a shorter run is its prefix', () => {
  const full = generatePlan({ seed: 7, salvages: 20 });
  expect(generatePlan({ seed: 7, salvages: 20 })).toEqual(full);
  expect(generatePlan({ seed: 7, salvages: 5 }).salvages).toEqual(full.salvages.slice(0, 5));
  expect(generatePlan({ seed: 8, salvages: 20 })).not.toEqual(full);
});

test('given 20 salvages, should cover every (component, moment) pair and every component in each block of five', () => {
  for (const seed of [1, 2, 3, DEFAULT_SEED]) {
    const { salvages } = generatePlan({ seed, salvages: 20 });
    const pairs = new Set(salvages.map((s) => `${s.fault.component}/${s.fault.moment}`));
    expect(pairs.size).toBe(COMPONENTS.length * MOMENTS.length);
    for (let i = 0; i < 20; i += 5)
      expect(new Set(salvages.slice(i, i + 5).map((s) => s.fault.component)).size).toBe(5);
  }
});

test('given a plan, should keep sizes, delays and placements within their bounds', () => {
  const { salvages } = generatePlan({ seed: 99, salvages: 20 });
  for (const s of salvages) {
    const mib = (s.layers * s.layerSize) / (1 << 20);
    expect(mib).toBeGreaterThanOrEqual(7.9);
    expect(mib).toBeLessThanOrEqual(48.1);
    expect(s.fault.delayMs).toBeGreaterThanOrEqual(500);
    expect(s.fault.delayMs).toBeLessThanOrEqual(5000);
    expect(s.holders).not.toContain(s.target);
    expect(s.holders.length).toBeGreaterThanOrEqual(1);
  }
});

test('given a seed variable, should parse decimal and hex, default when empty, and refuse garbage', () => {
  expect(parseSeed(undefined)).toBe(DEFAULT_SEED);
  expect(parseSeed('42')).toBe(42);
  expect(parseSeed('0x10')).toBe(16);
  expect(() => parseSeed('abc')).toThrow(/TOTE_FAULT_SEED/);
  const a = mulberry32(5);
  const b = mulberry32(5);
  expect([a.next(), a.next()]).toEqual([b.next(), b.next()]);
});
