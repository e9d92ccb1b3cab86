import fc from 'fast-check';
import {
  atCap,
  chooseSource,
  compareSources,
  rankSources,
  servesPeers,
  type SourceLoad,
} from './source-choice.js';

const h = (node: string, over: Partial<SourceLoad> = {}): SourceLoad => ({ node, ...over });

test('given holders with reported load, should rank the least busy first', () => {
  const ranked = rankSources([
    h('a', { activeExports: 3 }),
    h('b', { activeExports: 0 }),
    h('c', { activeExports: 1 }),
  ]);
  expect(ranked.map((c) => c.node)).toEqual(['b', 'c', 'a']);
});

test('given equal load, should prefer the preferred node, then hinted nodes, then the name', () => {
  const cands = [h('c'), h('b', { hinted: true }), h('a')];
  expect(rankSources(cands).map((c) => c.node)).toEqual(['b', 'a', 'c']);
  expect(rankSources(cands, { prefer: 'c' }).map((c) => c.node)).toEqual(['c', 'b', 'a']);
});

test('given the caller runs uploads itself, should count the larger of its own and the reported load', () => {
  const running = (n: string): number => ({ a: 2, b: 0 })[n] ?? 0;
  const ranked = rankSources([h('a', { activeExports: 1 }), h('b', { activeExports: 1 })], { running });
  expect(ranked.map((c) => c.node)).toEqual(['b', 'a']);
});

test('given a per-source cap, should leave out holders at it and keep the others', () => {
  const running = (n: string): number => (n === 'a' ? 1 : 0);
  expect(rankSources([h('a'), h('b')], { running, perSourceCap: 1 }).map((c) => c.node)).toEqual(['b']);
  expect(chooseSource([h('a')], { running, perSourceCap: 1 })).toBeUndefined();
  expect(atCap(h('a'), { running, perSourceCap: 0 })).toBe(false);
});

test('given a holder backing off after a refusal, should leave it out until it is available again', () => {
  expect(chooseSource([h('a'), h('b')], { unavailable: (n) => n === 'a' })?.node).toBe('b');
});

test('given an agent that never serves peers (cap 0), should never choose it', () => {
  expect(servesPeers(h('a', { maxExports: 0 }))).toBe(false);
  expect(servesPeers(h('a'))).toBe(true);
  expect(chooseSource([h('a', { maxExports: 0 })])).toBeUndefined();
});

test('given an agent that reported being at its own cap, should try it after the others', () => {
  const full = h('a', { activeExports: 2, maxExports: 2 });
  const ranked = rankSources([full, h('b', { activeExports: 3, maxExports: 8 })]);
  expect(ranked.map((c) => c.node)).toEqual(['b', 'a']);
});

test('compareSources puts holders that never serve peers last', () => {
  const sorted = [h('a', { maxExports: 0 }), h('b', { activeExports: 5 })].sort(compareSources());
  expect(sorted.map((c) => c.node)).toEqual(['b', 'a']);
});

const holder = fc.record({
  node: fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5', 'n6'),
  hinted: fc.boolean(),
  activeExports: fc.option(fc.nat(6), { nil: undefined }),
  maxExports: fc.option(fc.nat(4), { nil: undefined }),
});

test('property: the choice serves peers, is below the cap, and no available holder is less loaded', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(holder, { selector: (c) => c.node }),
      fc.dictionary(fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5', 'n6'), fc.nat(3)),
      fc.nat(3),
      (cands, run, cap) => {
        const running = (n: string): number => run[n] ?? 0;
        const view = { running, perSourceCap: cap };
        const ranked = rankSources(cands, view);
        const available = cands.filter((c) => servesPeers(c) && !atCap(c, view));
        expect(ranked).toHaveLength(available.length);
        const choice = chooseSource(cands, view);
        if (!choice) return expect(available).toEqual([]);
        expect(servesPeers(choice)).toBe(true);
        expect(atCap(choice, view)).toBe(false);
        const load = (c: SourceLoad): number => Math.max(c.activeExports ?? 0, running(c.node));
        const belowOwnCap = (c: SourceLoad): boolean => c.maxExports === undefined || load(c) < c.maxExports;
        if (belowOwnCap(choice)) {
          for (const c of available.filter(belowOwnCap)) expect(load(choice)).toBeLessThanOrEqual(load(c));
          return;
        }
        // Chosen although at its agent's cap: only when every available holder is.
        expect(available.every((c) => !belowOwnCap(c))).toBe(true);
      },
    ),
  );
});

test('property: ranking is deterministic whatever the input order', () => {
  fc.assert(
    fc.property(fc.uniqueArray(holder, { selector: (c) => c.node }), (cands) => {
      const a = rankSources(cands).map((c) => c.node);
      const b = rankSources([...cands].reverse()).map((c) => c.node);
      expect(a).toEqual(b);
    }),
  );
});
