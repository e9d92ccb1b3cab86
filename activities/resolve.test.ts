import { MockActivityEnvironment } from '@temporalio/testing';
import type { ActivityDeps, AgentEndpoint } from './deps.js';
import { createResolveActivities } from './resolve.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function deps(answers: Record<string, string | null | Error>, withResolve = true): ActivityDeps {
  const nodes = Object.keys(answers).map((name, i) => ({
    name,
    internalIP: `10.0.0.${i + 1}`,
    imageNames: [],
  }));
  return {
    kube: { listNodes: async () => nodes },
    agent: withResolve
      ? {
          resolveTag: async (a: AgentEndpoint) => {
            const v = answers[a.node];
            if (v instanceof Error) throw v;
            return v ?? null;
          },
        }
      : {},
    config: { agents: { kind: 'template', template: '{nodeIP}:7443' } },
  } as unknown as ActivityDeps;
}

test('given agents that disagree, the digest most agents hold wins and unreachable agents are skipped', async () => {
  const acts = createResolveActivities(deps({ a: D1, b: D2, c: D2, d: null, e: new Error('UNAVAILABLE') }));
  const r = await new MockActivityEnvironment().run(acts.resolveTagOnAgents, { ref: 'docker.io/x/y:1' });
  expect(r).toEqual({ digest: D2, nodes: ['b', 'c'] });
});

test('given no agent knows the tag, or an agent port without resolveTag, the answer is null', async () => {
  const env = new MockActivityEnvironment();
  expect(
    await env.run(createResolveActivities(deps({ a: null })).resolveTagOnAgents, { ref: 'r:1' }),
  ).toEqual({
    digest: null,
    nodes: [],
  });
  expect(
    await env.run(createResolveActivities(deps({ a: D1 }, false)).resolveTagOnAgents, { ref: 'r:1' }),
  ).toEqual({ digest: null, nodes: [] });
});
