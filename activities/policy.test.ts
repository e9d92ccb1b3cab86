import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { fakeConfig, fakeDeps, fakeKube } from './fake-deps.js';
import type { ObjectMeta } from './deps.js';
import { createPolicyActivities, modeFromAnnotation } from './policy.js';
import type { PodRef } from './types.js';

const pod: PodRef = { namespace: 'shop', name: 'web-1', uid: 'u1' };
const meta = (annotations: Record<string, string>, owner?: { kind: string; name: string }): ObjectMeta => ({
  uid: 'u1',
  annotations,
  ownerReferences: owner ? [{ ...owner, controller: true }] : [],
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

describe('checkOptIn', () => {
  test('given an opted-in namespace and pod, should pass', async () => {
    await expect(new MockActivityEnvironment().run(activities({}).checkOptIn, pod)).resolves.toBeUndefined();
  });

  test('given the auto-salvage annotation two owners up, should pass', async () => {
    const owners = {
      'ReplicaSet/web-abc': meta({}, { kind: 'Deployment', name: 'web' }),
      'Deployment/web': meta({ 'tote.dev/auto-salvage': 'true' }),
    };
    const objs = { pod: meta({}, { kind: 'ReplicaSet', name: 'web-abc' }), owners };
    await expect(
      new MockActivityEnvironment().run(activities(objs).checkOptIn, pod),
    ).resolves.toBeUndefined();
  });

  test('given the annotation three owners up, should refuse', async () => {
    const owners = {
      'A/a': meta({}, { kind: 'B', name: 'b' }),
      'B/b': meta({}, { kind: 'C', name: 'c' }),
      'C/c': meta({ 'tote.dev/auto-salvage': 'true' }),
    };
    expect(await withdrawn({ pod: meta({}, { kind: 'A', name: 'a' }), owners })).toContain('auto-salvage');
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

describe('loadPolicy', () => {
  test('given a valid tote.dev/mode on the namespace, should override the configured mode', async () => {
    const p = await new MockActivityEnvironment().run(
      activities({ ns: meta({ 'tote.dev/mode': 'approve' }) }).loadPolicy,
      pod,
    );
    expect(p).toMatchObject({ mode: 'approve', transferAttempts: 3, backup: false });
  });

  test('given an invalid mode annotation, should keep the configured mode', async () => {
    const p = await new MockActivityEnvironment().run(
      activities({ ns: meta({ 'tote.dev/mode': 'yolo' }), mode: 'detect-only' }).loadPolicy,
      pod,
    );
    expect(p).toMatchObject({ mode: 'detect-only' });
  });

  test('modeFromAnnotation accepts exactly the three modes', () => {
    expect(['auto', 'approve', 'detect-only', 'Auto', '', undefined].map(modeFromAnnotation)).toEqual([
      'auto',
      'approve',
      'detect-only',
      undefined,
      undefined,
      undefined,
    ]);
  });
});
