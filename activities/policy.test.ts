import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment as BaseEnv } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import fc from 'fast-check';
import { decideOptIn } from '../controller/opt-in.js';
import type { OwnerObject, OwnerReference } from '../controller/types.js';
import { fakeConfig, fakeDeps, fakeKube } from './fake-deps.js';
import type { ObjectMeta, OwnerRef } from './deps.js';
import { createPolicyActivities } from './policy.js';
import type { PodRef, SalvagePolicy } from './types.js';

/** A mock activity environment that keeps the SDK's failure logs (every refusal) out of the test output. */
class MockActivityEnvironment extends BaseEnv {
  constructor() {
    super(undefined, { logger: new DefaultLogger('ERROR') });
  }
}

const pod: PodRef = { namespace: 'shop', name: 'web-1', uid: 'u1' };
const groupOf = (kind: string) => (kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : 'apps/v1');
/** A controller owner reference, of the kind's own API group unless told. */
const ref = (kind: string, name: string, apiVersion: string | undefined = groupOf(kind)): OwnerRef => ({
  ...(apiVersion === undefined ? {} : { apiVersion }),
  kind,
  name,
  controller: true,
});
const meta = (annotations: Record<string, string>, ...ownerReferences: OwnerRef[]): ObjectMeta => ({
  uid: 'u1',
  annotations,
  ownerReferences,
});

function activities(objs: {
  ns?: ObjectMeta | null;
  pod?: ObjectMeta | null;
  owners?: Record<string, ObjectMeta>;
  mode?: 'auto' | 'approve' | 'detect-only';
}) {
  return createPolicyActivities(
    fakeDeps({
      config: fakeConfig({ mode: objs.mode ?? 'auto' }),
      kube: fakeKube({
        getNamespace: async () => (objs.ns === undefined ? meta({ 'tote.dev/allow': 'true' }) : objs.ns),
        getPod: async () => (objs.pod === undefined ? meta({ 'tote.dev/auto-salvage': 'true' }) : objs.pod),
        getOwner: async (_ns, o) => objs.owners?.[`${o.kind}/${o.name}`] ?? null,
      }),
    }),
  );
}

async function withdrawn(objs: Parameters<typeof activities>[0], p: PodRef = pod): Promise<string> {
  const err = await new MockActivityEnvironment()
    .run(activities(objs).checkOptIn, p)
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).type).toBe('OptInWithdrawn');
  expect((err as ApplicationFailure).nonRetryable).toBe(true);
  return (err as ApplicationFailure).message;
}

async function passes(objs: Parameters<typeof activities>[0]): Promise<void> {
  await expect(new MockActivityEnvironment().run(activities(objs).checkOptIn, pod)).resolves.toBeUndefined();
}

const deployment = {
  'ReplicaSet/web-abc': meta({}, ref('Deployment', 'web')),
  'Deployment/web': meta({ 'tote.dev/auto-salvage': 'true' }),
};

describe('checkOptIn', () => {
  test('given an opted-in namespace and pod, should pass', async () => {
    await passes({});
  });

  test('given the auto-salvage annotation two owners up, should pass', async () => {
    await passes({ pod: meta({}, ref('ReplicaSet', 'web-abc')), owners: deployment });
  });

  test('given owner references without apiVersion (an adapter that drops it), should match them on kind', async () => {
    const owners = {
      'ReplicaSet/web-abc': meta({}, ref('Deployment', 'web', undefined)),
      'Deployment/web': meta({ 'tote.dev/auto-salvage': 'true' }),
    };
    await passes({ pod: meta({}, ref('ReplicaSet', 'web-abc', undefined)), owners });
  });

  test('given the annotation three owners up, should refuse', async () => {
    const owners = {
      ...deployment,
      'Deployment/web': meta({}, ref('Deployment', 'grand')),
      'Deployment/grand': meta({ 'tote.dev/auto-salvage': 'true' }),
    };
    expect(await withdrawn({ pod: meta({}, ref('ReplicaSet', 'web-abc')), owners })).toContain(
      'no longer carry tote.dev/auto-salvage',
    );
  });

  test('given the namespace annotation removed, should refuse', async () => {
    expect(await withdrawn({ ns: meta({ 'tote.dev/allow': 'false' }) })).toContain('tote.dev/allow');
  });

  test('given the pod gone or replaced, should refuse', async () => {
    expect(await withdrawn({ pod: null })).toContain('no longer exists');
    expect(await withdrawn({ pod: { ...meta({ 'tote.dev/auto-salvage': 'true' }), uid: 'u2' } })).toContain(
      'no longer exists',
    );
  });

  test('given a denied namespace, should refuse whatever the annotations say', async () => {
    expect(await withdrawn({}, { namespace: 'kube-system', name: 'x' })).toContain('kube-system');
  });

  test('given an operator salvage (requireWorkload false), should pass without the workload annotation', async () => {
    const run = (objs: Parameters<typeof activities>[0]) =>
      new MockActivityEnvironment().run(activities(objs).checkOptIn, pod, { requireWorkload: false });
    await expect(run({ pod: meta({}) })).resolves.toBeUndefined();
    // The namespace's consent is still required.
    const err = await run({ pod: meta({}), ns: meta({}) }).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('OptInWithdrawn');
  });
});

// Regression tests of issue 13: the worker used to look for "true" up the controller chain only, so each of these
// passed on the worker while the controller refused.
describe('checkOptIn applies the controller rule', () => {
  test('given the pod "false" under a Deployment "true" (withdrawn during approval), should refuse', async () => {
    const objs = {
      pod: meta({ 'tote.dev/auto-salvage': 'false' }, ref('ReplicaSet', 'web-abc')),
      owners: deployment,
    };
    expect(await withdrawn(objs)).toContain('opted out: Pod web-1 sets tote.dev/auto-salvage');
  });

  test('given an invalid pod value under a Deployment "true", should refuse (read as "false")', async () => {
    const objs = {
      pod: meta({ 'tote.dev/auto-salvage': 'yes' }, ref('ReplicaSet', 'web-abc')),
      owners: deployment,
    };
    expect(await withdrawn(objs)).toContain('opted out: Pod web-1');
  });

  test('given a ReplicaSet "false" under a Deployment "true", should refuse (the nearer owner wins)', async () => {
    const owners = {
      ...deployment,
      'ReplicaSet/web-abc': meta({ 'tote.dev/auto-salvage': 'false' }, ref('Deployment', 'web')),
    };
    expect(await withdrawn({ pod: meta({}, ref('ReplicaSet', 'web-abc')), owners })).toContain(
      'opted out: ReplicaSet web-abc',
    );
  });

  test('given two owners that disagree, should refuse ("false" wins)', async () => {
    const owners = {
      'ReplicaSet/a': meta({ 'tote.dev/auto-salvage': 'true' }),
      'StatefulSet/b': meta({ 'tote.dev/auto-salvage': 'false' }),
    };
    const p = meta({}, ref('ReplicaSet', 'a'), { ...ref('StatefulSet', 'b'), controller: false });
    expect(await withdrawn({ pod: p, owners })).toContain('opted out: StatefulSet b');
  });

  test('given an owner of another API group with the kind of a supported one, should ignore it', async () => {
    const owners = { 'ReplicaSet/web-abc': meta({ 'tote.dev/auto-salvage': 'true' }) };
    const p = meta({}, ref('ReplicaSet', 'web-abc', 'example.com/v1'));
    expect(await withdrawn({ pod: p, owners })).toContain('no longer carry');
  });

  test('given an owner of an unsupported kind, should ignore it', async () => {
    const owners = { 'Rollout/r': meta({ 'tote.dev/auto-salvage': 'true' }) };
    const p = meta({}, ref('Rollout', 'r', 'argoproj.io/v1alpha1'));
    expect(await withdrawn({ pod: p, owners })).toContain('no longer carry');
  });
});

describe('loadPolicy', () => {
  test('given a misspelt tote.dev/mode ("autoo"), should read detect-only whatever the configured mode', async () => {
    const p = await new MockActivityEnvironment().run(
      activities({ ns: meta({ 'tote.dev/mode': 'autoo' }), mode: 'auto' }).loadPolicy,
      pod,
    );
    expect(p).toMatchObject({ mode: 'detect-only' });
  });

  test.each([
    ['absent', 'approve', 'approve', undefined],
    ['"auto"', 'approve', 'auto', 'auto'],
    ['"approve"', 'auto', 'approve', 'approve'],
    ['"detect-only"', 'auto', 'detect-only', 'detect-only'],
    ['"Auto" (modes are case-sensitive)', 'auto', 'detect-only', 'Auto'],
    ['empty', 'approve', 'detect-only', ''],
  ] as const)(
    'given tote.dev/mode %s and --mode %s, should read %s',
    async (_name, mode, want, annotation) => {
      const annotations: Record<string, string> =
        annotation === undefined ? {} : { 'tote.dev/mode': annotation };
      const p = await new MockActivityEnvironment().run(
        activities({ ns: meta(annotations), mode }).loadPolicy,
        pod,
      );
      expect(p).toMatchObject({ mode: want });
    },
  );

  test('given a namespace that does not exist, should keep the configured mode', async () => {
    const p = await new MockActivityEnvironment().run(
      activities({ ns: null, mode: 'approve' }).loadPolicy,
      pod,
    );
    expect(p).toMatchObject({ mode: 'approve', transferAttempts: 3, backup: false });
  });
});

/** One owner chain of a generated world: a first-level owner and maybe its parent. */
interface Chain {
  readonly kind: string;
  readonly apiVersion: string;
  readonly value: string | undefined;
  readonly fetched: boolean;
  readonly parent?: { kind: string; apiVersion: string; value: string | undefined; fetched: boolean };
}

// Weighted towards worlds where chains line up (own API group, the kind's parent kind, fetched), so the deep
// paths are reached; the look-alikes and gaps stay in as noise.
const value = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constantFrom('true', 'false') },
  { weight: 1, arbitrary: fc.constantFrom('yes', '', 'True') },
);
const apiVersion = (own: string) =>
  fc.oneof({ weight: 5, arbitrary: fc.constant(own) }, fc.constantFrom('example.com/v1', 'v1'));
const fetched = fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, fc.constant(false));
const parentOf = (kind: string) => (kind === 'Job' ? 'CronJob' : 'Deployment');
const chain: fc.Arbitrary<Chain> = fc
  .constantFrom('ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'Rollout')
  .chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      apiVersion: apiVersion(groupOf(kind)),
      // Owners in the middle of a chain are mostly silent, as ReplicaSets and Jobs are.
      value: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, value),
      fetched,
      parent: fc.option(
        fc.record({
          kind: fc.oneof({ weight: 5, arbitrary: fc.constant(parentOf(kind)) }, fc.constant('ReplicaSet')),
          apiVersion: apiVersion(groupOf(parentOf(kind))),
          value: fc.oneof({ weight: 2, arbitrary: fc.constantFrom('true', 'false') }, value),
          fetched,
        }),
        { nil: undefined, freq: 3 },
      ),
    }),
  );
interface World {
  readonly podValue: string | undefined;
  readonly chains: readonly Chain[];
}
const world: fc.Arbitrary<World> = fc.record({
  podValue: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, value),
  chains: fc.array(chain, { maxLength: 2 }),
});

const annotated = (v: string | undefined): Record<string, string> =>
  v === undefined ? {} : { 'tote.dev/auto-salvage': v };

/** The world as the controller sees it: the pod, and the owners its cache holds. */
function controllerView(w: World) {
  const owners: OwnerObject[] = [];
  const refs: OwnerReference[] = w.chains.map((c, i) => {
    const parentRef = c.parent && { apiVersion: c.parent.apiVersion, kind: c.parent.kind, name: `p${i}` };
    if (c.fetched) {
      const ownerReferences = parentRef ? [parentRef] : [];
      owners.push({
        kind: c.kind,
        metadata: { name: `o${i}`, annotations: annotated(c.value), ownerReferences },
      });
    }
    if (c.parent?.fetched)
      owners.push({
        kind: c.parent.kind,
        metadata: { name: `p${i}`, annotations: annotated(c.parent.value) },
      });
    return { apiVersion: c.apiVersion, kind: c.kind, name: `o${i}`, controller: i === 0 };
  });
  return {
    pod: {
      metadata: {
        name: 'web-1',
        namespace: 'shop',
        annotations: annotated(w.podValue),
        ownerReferences: refs,
      },
    },
    owners,
  };
}

describe('the worker and the controller', () => {
  test('given any pod, owners and auto-salvage values, should agree on the opt-in', async () => {
    const reached = new Set<string>();
    await fc.assert(
      fc.asyncProperty(world, async (w) => {
        const { pod: p, owners } = controllerView(w);
        const controller = decideOptIn({
          namespace: { metadata: { name: 'shop', annotations: { 'tote.dev/allow': 'true' } } },
          pod: p,
          owners,
          enabled: true,
        });
        const byKey = Object.fromEntries(
          owners.map((o): [string, ObjectMeta] => [
            `${o.kind}/${o.metadata?.name ?? ''}`,
            meta({ ...o.metadata?.annotations }, ...(o.metadata?.ownerReferences ?? [])),
          ]),
        );
        const podMeta = meta({ ...p.metadata.annotations }, ...p.metadata.ownerReferences);
        const worker = await new MockActivityEnvironment()
          .run(activities({ pod: podMeta, owners: byKey }).checkOptIn, pod)
          .then(
            () => true,
            () => false,
          );
        expect(worker).toBe(controller.allowed);
        reached.add(controller.allowed ? `allowed by ${controller.decidedBy.kind}` : controller.why);
        if (!controller.allowed && controller.decidedBy)
          reached.add(`opted out by ${controller.decidedBy.kind}`);
      }),
      { numRuns: 1000 },
    );
    // Both outcomes were reached through the pod and through both levels of owners.
    expect([...reached]).toEqual(
      expect.arrayContaining([
        'allowed by Pod',
        'allowed by ReplicaSet',
        'allowed by Deployment',
        'allowed by CronJob',
        'opted out by Pod',
        'opted out by ReplicaSet',
        'opted out by Deployment',
        'pod-not-opted-in',
      ]),
    );
  });

  test.each(['auto', 'approve', 'detect-only'] as const)(
    'given any tote.dev/mode value and the configured mode %s, should pick the same mode',
    async (mode) => {
      const modeValue = fc.option(
        fc.oneof(fc.constantFrom('auto', 'approve', 'detect-only', 'Auto', 'autoo', ''), fc.string()),
        { nil: undefined },
      );
      await fc.assert(
        fc.asyncProperty(modeValue, async (v) => {
          const annotations: Record<string, string> = {
            'tote.dev/allow': 'true',
            ...(v === undefined ? {} : { 'tote.dev/mode': v }),
          };
          const controller = decideOptIn({
            namespace: { metadata: { name: 'shop', annotations } },
            pod: {
              metadata: {
                name: 'web-1',
                namespace: 'shop',
                annotations: { 'tote.dev/auto-salvage': 'true' },
              },
            },
            owners: [],
            enabled: true,
            defaultMode: mode,
          });
          const worker = (await new MockActivityEnvironment().run(
            activities({ ns: meta(annotations), mode }).loadPolicy,
            pod,
          )) as SalvagePolicy;
          expect(controller).toMatchObject({ allowed: true, mode: worker.mode });
        }),
        { numRuns: 100 },
      );
    },
  );
});
