import type { OwnerKey } from './opt-in.js';
import { OwnerLookup, type OwnerFetcher } from './owners.js';
import type { OwnerObject, Pod } from './types.js';

function fakeFetcher(objects: OwnerObject[]): OwnerFetcher & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async fetch(key: OwnerKey) {
      calls.push(`${key.kind}/${key.name}`);
      await new Promise((r) => setImmediate(r));
      return objects.find((o) => o.kind === key.kind && o.metadata?.name === key.name) ?? null;
    },
  };
}

const ref = (kind: string, name: string, apiVersion = 'apps/v1') => ({
  apiVersion,
  kind,
  name,
  controller: true,
});

const deployment: OwnerObject = {
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop', annotations: { 'tote.dev/auto-salvage': 'true', other: 'x' } },
};
const replicaSet: OwnerObject = {
  kind: 'ReplicaSet',
  metadata: { name: 'web-abc', namespace: 'shop', ownerReferences: [ref('Deployment', 'web')] },
};
const pod: Pod = {
  metadata: { name: 'web-abc-xyz', namespace: 'shop', ownerReferences: [ref('ReplicaSet', 'web-abc')] },
};

test('given a pod of a Deployment, ownersOf returns the ReplicaSet and the Deployment, slimmed', async () => {
  const fetcher = fakeFetcher([deployment, replicaSet]);
  const lookup = new OwnerLookup({ fetcher });
  const owners = await lookup.ownersOf(pod);
  expect(owners.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
    'ReplicaSet/web-abc',
    'Deployment/web',
  ]);
  expect(owners[1]?.metadata?.annotations).toEqual({ 'tote.dev/auto-salvage': 'true' });
});

test('given repeated and concurrent lookups, each owner is fetched once while fresh', async () => {
  const fetcher = fakeFetcher([deployment, replicaSet]);
  let now = 0;
  const lookup = new OwnerLookup({ fetcher, ttlMs: 1000, now: () => now });
  await Promise.all([lookup.ownersOf(pod), lookup.ownersOf(pod), lookup.ownersOf(pod)]);
  await lookup.ownersOf(pod);
  expect(fetcher.calls).toEqual(['ReplicaSet/web-abc', 'Deployment/web']);
  now = 1001;
  await lookup.ownersOf(pod);
  expect(fetcher.calls).toHaveLength(4);
});

test('given a missing owner, it is left out and remembered for the negative TTL only', async () => {
  const fetcher = fakeFetcher([]);
  let now = 0;
  const lookup = new OwnerLookup({ fetcher, negativeTtlMs: 10, now: () => now });
  expect(await lookup.ownersOf(pod)).toEqual([]);
  expect(await lookup.ownersOf(pod)).toEqual([]);
  expect(fetcher.calls).toEqual(['ReplicaSet/web-abc']);
  now = 11;
  await lookup.ownersOf(pod);
  expect(fetcher.calls).toHaveLength(2);
});

test('given owners tote does not follow, nothing is fetched', async () => {
  const fetcher = fakeFetcher([]);
  const lookup = new OwnerLookup({ fetcher });
  const odd: Pod = {
    metadata: {
      namespace: 'shop',
      ownerReferences: [
        ref('Rollout', 'r', 'argoproj.io/v1alpha1'),
        ref('ReplicaSet', 'x', 'example.com/v1'),
      ],
    },
  };
  expect(await lookup.ownersOf(odd)).toEqual([]);
  expect(fetcher.calls).toEqual([]);
});

test('given a failing read, ownersOf rejects and the next call tries again', async () => {
  let fail = true;
  const lookup = new OwnerLookup({
    fetcher: {
      async fetch() {
        if (fail) throw new Error('apiserver unavailable');
        return replicaSet;
      },
    },
  });
  await expect(lookup.ownersOf(pod)).rejects.toThrow('apiserver unavailable');
  fail = false;
  expect((await lookup.ownersOf(pod))[0]?.kind).toBe('ReplicaSet');
});

test('given more owners than maxEntries, the oldest are evicted', async () => {
  const fetcher = fakeFetcher([]);
  const lookup = new OwnerLookup({ fetcher, maxEntries: 2 });
  for (const name of ['a', 'b', 'c'])
    await lookup.get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, namespace: 'n' });
  await lookup.get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'c', namespace: 'n' });
  await lookup.get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', namespace: 'n' });
  expect(fetcher.calls).toEqual(['ReplicaSet/a', 'ReplicaSet/b', 'ReplicaSet/c', 'ReplicaSet/a']);
});
