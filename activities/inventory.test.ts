import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { fakeAgent, fakeConfig, fakeDeps, fakeKube } from './fake-deps.js';
import type { ImageStatus } from './deps.js';
import { createInventoryActivities, HolderSurveys, mapLimit } from './inventory.js';
import type { SourceInventory } from './types.js';

const DIGEST = `sha256:${'12'.repeat(32)}`;
const nodes = ['t', 'a', 'b', 'c', 'd'].map((name) => ({
  name,
  imageNames: ['b', 'd'].includes(name) ? [`registry.gone/app@${DIGEST}`, 'registry.gone/app:1'] : [],
}));

async function locate(
  status: Record<string, ImageStatus | Error>,
  waitForHolders = false,
): Promise<SourceInventory> {
  const deps = fakeDeps({
    kube: fakeKube({ listNodes: async () => nodes }),
    agent: fakeAgent({
      hasImage: async (agent) => {
        const s = status[agent.node];
        if (s instanceof Error) throw s;
        return s ?? { present: false, complete: false, sizeBytes: 0 };
      },
    }),
  });
  return (await new MockActivityEnvironment().run(createInventoryActivities(deps).locateSources, {
    digest: DIGEST,
    targetNode: 't',
    waitForHolders,
  })) as SourceInventory;
}

const full = { present: true, complete: true, sizeBytes: 100 };

describe('locateSources', () => {
  test('given complete holders, should list them hinted first, then by name', async () => {
    const inv = await locate({ a: full, b: full, c: full });
    expect(inv.sources.map((s) => s.node)).toEqual(['b', 'a', 'c']);
    expect(inv.sources[0]).toMatchObject({ endpoint: 'b.agents:7443', hinted: true, sizeBytes: 100 });
    expect(inv.targetEndpoint).toBe('t.agents:7443');
    expect(inv.targetHasImage).toBe(false);
  });

  test('given an incomplete holder, should skip it', async () => {
    const inv = await locate({ a: { ...full, complete: false }, c: full });
    expect(inv.sources.map((s) => s.node)).toEqual(['c']);
    expect(inv.skipped).toContainEqual(expect.objectContaining({ node: 'a', complete: false }));
  });

  test('given a hinted node whose agent is unreachable, should report it as skipped, not as a source', async () => {
    const inv = await locate({ d: new Error('unavailable'), a: full });
    expect(inv.sources.map((s) => s.node)).toEqual(['a']);
    expect(inv.skipped).toContainEqual({ node: 'd', complete: false, sizeBytes: 0, hinted: true });
  });

  test('given waitForHolders and no source while hinted holders do not answer, should fail retryably', async () => {
    const err = (await locate({ b: new Error('unavailable'), d: new Error('unavailable') }, true).catch(
      (e: unknown) => e,
    )) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('HoldersUnreachable');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain('(b, d)');
  });

  test('given waitForHolders and a source, or no hinted holder at all, should answer as it is', async () => {
    expect((await locate({ d: new Error('unavailable'), a: full }, true)).sources.map((s) => s.node)).toEqual(
      ['a'],
    );
    expect((await locate({}, true)).sources).toEqual([]);
  });

  test('given waitForHolders and no agent answering on the target, should fail retryably (AgentUnavailable)', async () => {
    const deps = fakeDeps({
      config: fakeConfig({ agents: { kind: 'pods', port: 9443 } }),
      kube: fakeKube({
        listNodes: async () => nodes,
        // The target's agent pod is restarting (not ready); a holder answers.
        listAgentPods: async () => [
          { node: 'b', podIP: '10.0.0.2', ready: true },
          { node: 't', podIP: '10.0.0.9', ready: false },
        ],
      }),
      agent: fakeAgent({ hasImage: async () => full }),
    });
    const err = (await new MockActivityEnvironment()
      .run(createInventoryActivities(deps).locateSources, {
        digest: DIGEST,
        targetNode: 't',
        waitForHolders: true,
      })
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('AgentUnavailable');
    expect(err.nonRetryable).toBe(false);
  });

  test('given a hinted node whose agent says absent, should believe the agent', async () => {
    const inv = await locate({});
    expect(inv.sources).toEqual([]);
    expect(inv.skipped).toEqual([]);
  });

  test('given the target already complete, should say so and not list it as a source', async () => {
    const inv = await locate({ t: full, a: full });
    expect(inv.targetHasImage).toBe(true);
    expect(inv.sources.map((s) => s.node)).toEqual(['a']);
  });

  test('given pod discovery, should use ready agent pods only', async () => {
    const deps = fakeDeps({
      config: fakeConfig({ agents: { kind: 'pods', port: 9443 } }),
      kube: fakeKube({
        listNodes: async () => nodes,
        listAgentPods: async () => [
          { node: 'a', podIP: '10.0.0.1', ready: true },
          { node: 'c', podIP: '10.0.0.3', ready: false },
          { node: 't', podIP: '10.0.0.9', ready: true },
        ],
      }),
      agent: fakeAgent({ hasImage: async () => full }),
    });
    const inv = (await new MockActivityEnvironment().run(createInventoryActivities(deps).locateSources, {
      digest: DIGEST,
      targetNode: 't',
    })) as SourceInventory;
    expect(inv.sources.map((s) => s.endpoint)).toEqual(['10.0.0.1:9443']);
    expect(inv.targetEndpoint).toBe('10.0.0.9:9443');
  });
});

test('mapLimit keeps order and never exceeds the limit', async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    return n * 2;
  });
  expect(out).toEqual([2, 4, 6, 8, 10, 12, 14]);
  expect(peak).toBe(3);
});

test('given a {nodeIP} template, should dial each node on its InternalIP', async () => {
  const deps = fakeDeps({
    config: fakeConfig({ agents: { kind: 'template', template: '{nodeIP}:9443' } }),
    kube: fakeKube({
      listNodes: async () => [
        { name: 't', internalIP: '127.0.0.11', imageNames: [] },
        { name: 'a', internalIP: '127.0.0.12', imageNames: [] },
        { name: 'noip', imageNames: [] },
      ],
    }),
    agent: fakeAgent({ hasImage: async () => ({ present: true, complete: true, sizeBytes: 1 }) }),
  });
  const inv = (await new MockActivityEnvironment().run(createInventoryActivities(deps).locateSources, {
    digest: DIGEST,
    targetNode: 't',
  })) as SourceInventory;
  expect(inv.targetEndpoint).toBe('127.0.0.11:9443');
  expect(inv.sources.map((s) => `${s.node}@${s.endpoint}`)).toEqual(['a@127.0.0.12:9443']);
});

describe('HolderSurveys (one survey of the agents per digest for concurrent locates)', () => {
  function counting(): { deps: ReturnType<typeof fakeDeps>; asked: () => number } {
    let asked = 0;
    const deps = fakeDeps({
      kube: fakeKube({ listNodes: async () => nodes }),
      agent: fakeAgent({
        hasImage: async (agent) => {
          asked++;
          await new Promise((r) => setTimeout(r, 5));
          return agent.node === 'a'
            ? { ...full, activeExports: 1, maxExports: 4 }
            : { ...full, present: false };
        },
      }),
    });
    return { deps, asked: () => asked };
  }

  test('given salvages of one digest on many nodes locating at once, should ask each agent once', async () => {
    const { deps, asked } = counting();
    const acts = createInventoryActivities(deps, new HolderSurveys(deps));
    const targets = ['t', 'b', 'c', 'd'];
    const invs = (await Promise.all(
      targets.map((targetNode) =>
        new MockActivityEnvironment().run(acts.locateSources, { digest: DIGEST, targetNode }),
      ),
    )) as SourceInventory[];
    expect(asked()).toBe(nodes.length);
    expect(invs.map((i) => i.targetEndpoint)).toEqual(targets.map((t) => `${t}.agents:7443`));
    expect(invs[0]?.sources[0]).toMatchObject({ node: 'a', activeExports: 1, maxExports: 4 });
  });

  test('given a survey older than the TTL, should ask the agents again', async () => {
    const { deps, asked } = counting();
    let now = 0;
    const surveys = new HolderSurveys(deps, { ttlMs: 1000, now: () => now });
    await surveys.of(DIGEST);
    now = 999;
    await surveys.of(DIGEST);
    expect(asked()).toBe(nodes.length);
    now = 1000;
    await surveys.of(DIGEST);
    expect(asked()).toBe(2 * nodes.length);
  });

  test('given one caller cancelled, should leave the shared survey to the others', async () => {
    const { deps } = counting();
    const surveys = new HolderSurveys(deps);
    const ac = new AbortController();
    const first = surveys.of(DIGEST, ac.signal);
    const second = surveys.of(DIGEST);
    ac.abort(new Error('cancelled'));
    await expect(first).rejects.toThrow('cancelled');
    expect((await second).agents).toHaveLength(nodes.length);
  });

  test('given a failed survey, should not keep it for the next caller', async () => {
    let fail = true;
    const deps = fakeDeps({
      kube: fakeKube({
        listNodes: async () => {
          if (fail) throw new Error('apiserver down');
          return nodes;
        },
      }),
      agent: fakeAgent({ hasImage: async () => full }),
    });
    const surveys = new HolderSurveys(deps);
    await expect(surveys.of(DIGEST)).rejects.toThrow();
    fail = false;
    expect((await surveys.of(DIGEST)).agents).toHaveLength(nodes.length);
  });
});
