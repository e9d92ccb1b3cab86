import { decideOptIn, ownerChainToFetch, ownerKeyString, parentsToFetch, type OptInInput } from './opt-in.js';
import type { Annotations, Namespace, OwnerObject, OwnerReference, Pod } from './types.js';

const ref = (
  kind: string,
  name: string,
  apiVersion = kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : 'apps/v1',
): OwnerReference => ({
  apiVersion,
  kind,
  name,
  uid: `uid-${name}`,
  controller: true,
});

function pod(annotations?: Annotations, owners: OwnerReference[] = [], namespace = 'shop'): Pod {
  return {
    metadata: { name: 'web-1', namespace, annotations, ownerReferences: owners },
    spec: { nodeName: 'n1' },
  };
}

function ns(annotations?: Annotations, name = 'shop'): Namespace {
  return { metadata: { name, annotations } };
}

function owner(
  kind: string,
  name: string,
  annotations?: Annotations,
  parents: OwnerReference[] = [],
): OwnerObject {
  return { kind, metadata: { name, namespace: 'shop', annotations, ownerReferences: parents } };
}

const allowed = ns({ 'tote.dev/allow': 'true' });
const rsRef = ref('ReplicaSet', 'web-7c9');
const deployRef = ref('Deployment', 'web');

function input(over: Partial<OptInInput>): OptInInput {
  return {
    namespace: allowed,
    pod: pod({ 'tote.dev/auto-salvage': 'true' }),
    owners: [],
    enabled: true,
    ...over,
  };
}

describe('decideOptIn guards', () => {
  it('given the kill switch is off should refuse with disabled, whatever the annotations', () => {
    expect(decideOptIn(input({ enabled: false }))).toEqual({ allowed: false, why: 'disabled', problems: [] });
  });

  it.each(['kube-system', 'kube-public', 'kube-node-lease'])(
    'given a pod in %s should refuse with denied-namespace even if the namespace opts in',
    (name) => {
      const r = decideOptIn(
        input({
          namespace: ns({ 'tote.dev/allow': 'true' }, name),
          pod: pod({ 'tote.dev/auto-salvage': 'true' }, [], name),
        }),
      );
      expect(r).toEqual({ allowed: false, why: 'denied-namespace', problems: [] });
    },
  );

  it('given the namespace is not in the cache should refuse with namespace-unknown', () => {
    expect(decideOptIn(input({ namespace: undefined }))).toMatchObject({
      allowed: false,
      why: 'namespace-unknown',
    });
  });

  it("given a namespace object that is not the pod's should refuse with namespace-unknown", () => {
    const r = decideOptIn(input({ namespace: ns({ 'tote.dev/allow': 'true' }, 'other') }));
    expect(r).toMatchObject({ allowed: false, why: 'namespace-unknown' });
  });

  it.each([
    ['no annotations', undefined],
    ['allow "false"', { 'tote.dev/allow': 'false' }],
    ['unrelated annotations', { team: 'a' }],
  ])('given a namespace with %s should refuse with namespace-not-opted-in', (_name, annotations) => {
    expect(decideOptIn(input({ namespace: ns(annotations) }))).toMatchObject({
      allowed: false,
      why: 'namespace-not-opted-in',
      problems: [],
    });
  });

  it('given a namespace allow value that is not a boolean should refuse and report the key on the Namespace', () => {
    const r = decideOptIn(input({ namespace: ns({ 'tote.dev/allow': 'yes' }) }));
    expect(r).toMatchObject({ allowed: false, why: 'namespace-not-opted-in' });
    expect(r.problems).toEqual([
      expect.objectContaining({
        key: 'tote.dev/allow',
        kind: 'invalid-boolean',
        object: { kind: 'Namespace', name: 'shop' },
      }),
    ]);
  });

  it('given a pod without annotation and without owners should refuse with pod-not-opted-in', () => {
    expect(decideOptIn(input({ pod: pod() }))).toEqual({
      allowed: false,
      why: 'pod-not-opted-in',
      problems: [],
    });
  });

  it('given a pod annotated "true" should allow in auto mode, decided by the pod', () => {
    expect(decideOptIn(input({}))).toEqual({
      allowed: true,
      mode: 'auto',
      decidedBy: { kind: 'Pod', name: 'web-1' },
      problems: [],
    });
  });

  it('given a pod annotated "false" should refuse with pod-opted-out', () => {
    const r = decideOptIn(input({ pod: pod({ 'tote.dev/auto-salvage': 'false' }) }));
    expect(r).toEqual({
      allowed: false,
      why: 'pod-opted-out',
      decidedBy: { kind: 'Pod', name: 'web-1' },
      problems: [],
    });
  });

  it('given a pod annotated "false" under a Deployment annotated "true" should let the pod win', () => {
    const r = decideOptIn(
      input({
        pod: pod({ 'tote.dev/auto-salvage': 'false' }, [rsRef]),
        owners: [
          owner('ReplicaSet', 'web-7c9', {}, [deployRef]),
          owner('Deployment', 'web', { 'tote.dev/auto-salvage': 'true' }),
        ],
      }),
    );
    expect(r).toMatchObject({ allowed: false, why: 'pod-opted-out', decidedBy: { kind: 'Pod' } });
  });

  it('given a pod annotated "true" under an owner annotated "false" should let the pod win', () => {
    const r = decideOptIn(
      input({
        pod: pod({ 'tote.dev/auto-salvage': 'true' }, [rsRef]),
        owners: [owner('ReplicaSet', 'web-7c9', { 'tote.dev/auto-salvage': 'false' })],
      }),
    );
    expect(r).toMatchObject({ allowed: true, decidedBy: { kind: 'Pod' } });
  });

  it('given an invalid pod value under an owner annotated "true" should refuse (read as false) and report it', () => {
    const r = decideOptIn(
      input({
        pod: pod({ 'tote.dev/auto-salvage': 'yes' }, [rsRef]),
        owners: [owner('ReplicaSet', 'web-7c9', { 'tote.dev/auto-salvage': 'true' })],
      }),
    );
    expect(r).toMatchObject({ allowed: false, why: 'pod-opted-out' });
    expect(r.problems).toEqual([
      expect.objectContaining({ key: 'tote.dev/auto-salvage', object: { kind: 'Pod', name: 'web-1' } }),
    ]);
  });
});

describe('decideOptIn through owners', () => {
  it.each([
    ['ReplicaSet', ref('ReplicaSet', 'o')],
    ['StatefulSet', ref('StatefulSet', 'o')],
    ['DaemonSet', ref('DaemonSet', 'o')],
    ['Job', ref('Job', 'o')],
  ])('given a %s owner annotated "true" should allow, decided by it', (kind, r) => {
    const d = decideOptIn(
      input({ pod: pod(undefined, [r]), owners: [owner(kind, 'o', { 'tote.dev/auto-salvage': 'true' })] }),
    );
    expect(d).toMatchObject({ allowed: true, decidedBy: { kind, name: 'o' } });
  });

  it('given a Deployment annotated "true" above an unannotated ReplicaSet should allow, decided by the Deployment', () => {
    const d = decideOptIn(
      input({
        pod: pod(undefined, [rsRef]),
        owners: [
          owner('ReplicaSet', 'web-7c9', undefined, [deployRef]),
          owner('Deployment', 'web', { 'tote.dev/auto-salvage': 'true' }),
        ],
      }),
    );
    expect(d).toMatchObject({ allowed: true, decidedBy: { kind: 'Deployment', name: 'web' } });
  });

  it('given a CronJob annotated "true" above a Job should allow, decided by the CronJob', () => {
    const d = decideOptIn(
      input({
        pod: pod(undefined, [ref('Job', 'nightly-29000')]),
        owners: [
          owner('Job', 'nightly-29000', undefined, [ref('CronJob', 'nightly')]),
          owner('CronJob', 'nightly', { 'tote.dev/auto-salvage': 'true' }),
        ],
      }),
    );
    expect(d).toMatchObject({ allowed: true, decidedBy: { kind: 'CronJob', name: 'nightly' } });
  });

  it('given a ReplicaSet annotated "false" under a Deployment annotated "true" should let the nearer owner win', () => {
    const d = decideOptIn(
      input({
        pod: pod(undefined, [rsRef]),
        owners: [
          owner('ReplicaSet', 'web-7c9', { 'tote.dev/auto-salvage': 'false' }, [deployRef]),
          owner('Deployment', 'web', { 'tote.dev/auto-salvage': 'true' }),
        ],
      }),
    );
    expect(d).toMatchObject({ allowed: false, why: 'pod-opted-out', decidedBy: { kind: 'ReplicaSet' } });
  });

  it('given two owner chains that disagree should let "false" win', () => {
    const d = decideOptIn(
      input({
        pod: pod(undefined, [ref('ReplicaSet', 'a'), ref('StatefulSet', 'b')]),
        owners: [
          owner('ReplicaSet', 'a', { 'tote.dev/auto-salvage': 'true' }),
          owner('StatefulSet', 'b', { 'tote.dev/auto-salvage': 'false' }),
        ],
      }),
    );
    expect(d).toMatchObject({
      allowed: false,
      why: 'pod-opted-out',
      decidedBy: { kind: 'StatefulSet', name: 'b' },
    });
  });

  it('given an owner that could not be fetched should treat the chain as silent', () => {
    expect(decideOptIn(input({ pod: pod(undefined, [rsRef]), owners: [] }))).toMatchObject({
      allowed: false,
      why: 'pod-not-opted-in',
    });
  });

  it('given an owner of an unsupported kind should ignore its annotation', () => {
    const d = decideOptIn(
      input({
        pod: pod(undefined, [ref('Rollout', 'r', 'argoproj.io/v1alpha1')]),
        owners: [owner('Rollout', 'r', { 'tote.dev/auto-salvage': 'true' })],
      }),
    );
    expect(d).toMatchObject({ allowed: false, why: 'pod-not-opted-in' });
  });

  it('given a third-level owner should not inherit from it', () => {
    const d = decideOptIn(
      input({
        pod: pod(undefined, [rsRef]),
        owners: [
          owner('ReplicaSet', 'web-7c9', undefined, [deployRef]),
          owner('Deployment', 'web', undefined, [ref('Deployment', 'grand')]),
          owner('Deployment', 'grand', { 'tote.dev/auto-salvage': 'true' }),
        ],
      }),
    );
    expect(d).toMatchObject({ allowed: false, why: 'pod-not-opted-in' });
  });

  it('given bad annotations on owners should report each with its object', () => {
    const d = decideOptIn(
      input({
        pod: pod({ 'tote.dev/auto-salvage': 'true', 'tote.dev/allow': 'true' }, [rsRef]),
        owners: [
          owner('ReplicaSet', 'web-7c9', { 'tote.dev/autosalvage': 'true' }, [deployRef]),
          owner('Deployment', 'web', { 'tote.dev/auto-salvage': 'on' }),
        ],
      }),
    );
    expect(d.allowed).toBe(true);
    expect(d.problems.map((p) => [p.object.kind, p.key, p.kind])).toEqual([
      ['Pod', 'tote.dev/allow', 'misplaced-key'],
      ['ReplicaSet', 'tote.dev/autosalvage', 'unknown-key'],
      ['Deployment', 'tote.dev/auto-salvage', 'invalid-boolean'],
    ]);
  });
});

describe('decideOptIn mode', () => {
  it.each(['auto', 'approve', 'detect-only'] as const)(
    'given the namespace sets mode %s should use it',
    (mode) => {
      const d = decideOptIn(
        input({ namespace: ns({ 'tote.dev/allow': 'true', 'tote.dev/mode': mode }), defaultMode: 'auto' }),
      );
      expect(d).toMatchObject({ allowed: true, mode });
    },
  );

  it('given no namespace mode should use the default mode', () => {
    expect(decideOptIn(input({ defaultMode: 'approve' }))).toMatchObject({ allowed: true, mode: 'approve' });
  });

  it.each(['auto', 'approve'] as const)(
    'given an invalid namespace mode and the default mode %s should read detect-only, never the default',
    (defaultMode) => {
      const d = decideOptIn(
        input({ namespace: ns({ 'tote.dev/allow': 'true', 'tote.dev/mode': 'autoo' }), defaultMode }),
      );
      expect(d).toMatchObject({ allowed: true, mode: 'detect-only' });
    },
  );

  it('given an invalid namespace mode should fall back to detect-only and report the key', () => {
    const d = decideOptIn(input({ namespace: ns({ 'tote.dev/allow': 'true', 'tote.dev/mode': 'yolo' }) }));
    expect(d).toMatchObject({ allowed: true, mode: 'detect-only' });
    expect(d.problems).toEqual([
      expect.objectContaining({
        key: 'tote.dev/mode',
        kind: 'invalid-mode',
        object: { kind: 'Namespace', name: 'shop' },
      }),
    ]);
  });
});

describe('ownerChainToFetch and parentsToFetch', () => {
  it('given a pod without owners should fetch nothing', () => {
    expect(ownerChainToFetch(pod())).toEqual([]);
    expect(ownerChainToFetch({})).toEqual([]);
  });

  it('given a pod with supported owners should name each with kind, name, apiVersion and namespace', () => {
    expect(ownerChainToFetch(pod(undefined, [rsRef, ref('Job', 'j')]))).toEqual([
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7c9', namespace: 'shop' },
      { apiVersion: 'batch/v1', kind: 'Job', name: 'j', namespace: 'shop' },
    ]);
  });

  it('given owners of unsupported kinds or look-alike groups should skip them', () => {
    const p = pod(undefined, [
      ref('Node', 'n1', 'v1'),
      ref('Rollout', 'r', 'argoproj.io/v1alpha1'),
      ref('StatefulSet', 's', 'apps.kruise.io/v1beta1'),
      ref('Deployment', 'd'),
      ref('DaemonSet', 'ds'),
    ]);
    expect(ownerChainToFetch(p).map((k) => k.kind + '/' + k.name)).toEqual(['DaemonSet/ds']);
  });

  it('given a ReplicaSet owned by a Deployment should fetch the Deployment next', () => {
    expect(parentsToFetch(owner('ReplicaSet', 'web-7c9', undefined, [deployRef]))).toEqual([
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop' },
    ]);
  });

  it('given a Job owned by a CronJob should fetch the CronJob next', () => {
    expect(parentsToFetch(owner('Job', 'j', undefined, [ref('CronJob', 'c')]))).toMatchObject([
      { kind: 'CronJob', name: 'c' },
    ]);
  });

  it('given a second-level owner should stop the chain', () => {
    expect(parentsToFetch(owner('Deployment', 'web', undefined, [ref('Deployment', 'x')]))).toEqual([]);
    expect(parentsToFetch(owner('CronJob', 'c', undefined, [ref('CronJob', 'x')]))).toEqual([]);
  });

  it('given a ReplicaSet owned by something other than a Deployment should not follow it', () => {
    expect(
      parentsToFetch(owner('ReplicaSet', 'rs', undefined, [ref('Rollout', 'r', 'argoproj.io/v1alpha1')])),
    ).toEqual([]);
    expect(parentsToFetch(owner('StatefulSet', 's', undefined, [deployRef]))).toEqual([]);
  });

  it('given an owner key should build a namespace/kind/name cache key', () => {
    expect(ownerKeyString({ namespace: 'shop', kind: 'ReplicaSet', name: 'web-7c9' })).toBe(
      'shop/ReplicaSet/web-7c9',
    );
  });
});
