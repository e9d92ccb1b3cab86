import fc from 'fast-check';
import {
  annotatedMode,
  annotationText,
  annotationValue,
  apiGroupOf,
  booleanOf,
  FOLLOWED_KINDS,
  followedKind,
  modeOf,
  OWNER_KINDS,
  ownerApiPath,
  ownersToFollow,
  parentsToFollow,
  workloadVote,
  type FetchedObject,
  type OwnerRefLike,
} from './opt-in.js';

const KEY = 'tote.dev/auto-salvage';
const ref = (
  kind: string,
  name: string,
  apiVersion = kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : 'apps/v1',
) => ({
  apiVersion,
  kind,
  name,
});
const says = (v: string | undefined): Record<string, string> => (v === undefined ? {} : { [KEY]: v });
const obj = (kind: string, name: string, value?: string, ...parents: OwnerRefLike[]): FetchedObject => ({
  kind,
  metadata: { name, annotations: says(value), ownerReferences: parents },
});
const pod = (value?: string, ...owners: OwnerRefLike[]) => ({
  name: 'web-1',
  annotations: says(value),
  ownerReferences: owners,
});

describe('modeOf', () => {
  it.each([
    [undefined, 'auto', 'auto'],
    [undefined, 'approve', 'approve'],
    ['auto', 'detect-only', 'auto'],
    ['approve', 'auto', 'approve'],
    ['detect-only', 'auto', 'detect-only'],
    ['autoo', 'auto', 'detect-only'],
    ['Auto', 'auto', 'detect-only'],
    [' auto', 'approve', 'detect-only'],
    ['', 'auto', 'detect-only'],
  ] as const)(
    'given the annotation %p and the configured mode %s, should read %s',
    (value, configured, want) => {
      expect(modeOf(value, configured)).toBe(want);
    },
  );

  it('given any present value, should never fall back to the configured mode unless it names it', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.constantFrom('auto', 'approve', 'detect-only' as const),
        (v, configured) => {
          const mode = modeOf(v, configured);
          expect(mode).toBe(annotatedMode(v));
          expect(mode === v || mode === 'detect-only').toBe(true);
        },
      ),
    );
  });
});

describe('booleanOf and annotationValue', () => {
  it.each([
    [undefined, undefined],
    ['true', true],
    ['false', false],
    ['True', false],
    ['yes', false],
    ['', false],
  ])('given %p, should read %p', (value, want) => {
    expect(booleanOf(value)).toBe(want);
  });

  it('given annotations, should read only own keys, as text', () => {
    expect(annotationValue(undefined, KEY)).toBeUndefined();
    expect(annotationValue({}, KEY)).toBeUndefined();
    expect(annotationValue({ [KEY]: 'true' }, KEY)).toBe('true');
    expect(annotationValue({ [KEY]: 1 }, KEY)).toBe('1');
    expect(annotationValue(Object.create({ [KEY]: 'true' }) as Record<string, unknown>, KEY)).toBeUndefined();
    expect(annotationText({ toString: 1 })).toBe('[object Object]');
  });
});

describe('ownersToFollow and parentsToFollow', () => {
  it.each([
    ['apps/v1', 'apps'],
    ['batch/v1', 'batch'],
    ['v1', ''],
    ['argoproj.io/v1alpha1', 'argoproj.io'],
  ])('given apiVersion %s, should read the group %p', (apiVersion, group) => {
    expect(apiGroupOf(apiVersion)).toBe(group);
  });

  it('given a pod, should follow the apps/batch owner kinds of their own API group only', () => {
    const p = pod(
      undefined,
      ref('ReplicaSet', 'rs'),
      ref('StatefulSet', 'ss'),
      ref('DaemonSet', 'ds'),
      ref('Job', 'j'),
      ref('Deployment', 'd'),
      ref('Node', 'n', 'v1'),
      ref('Rollout', 'r', 'argoproj.io/v1alpha1'),
      ref('ReplicaSet', 'look-alike', 'example.com/v1'),
      ref('Job', 'wrong-group', 'apps/v1'),
    );
    expect(ownersToFollow(p).map((r) => r.name)).toEqual(['rs', 'ss', 'ds', 'j']);
    expect(ownersToFollow({})).toEqual([]);
  });

  it('given a reference without apiVersion, should match it on kind alone', () => {
    expect(
      ownersToFollow(pod(undefined, { kind: 'ReplicaSet', name: 'rs' }, { kind: 'Rollout', name: 'r' })),
    ).toEqual([{ kind: 'ReplicaSet', name: 'rs' }]);
  });

  it.each([
    ['a ReplicaSet', obj('ReplicaSet', 'rs', undefined, ref('Deployment', 'd')), ['d']],
    ['a Job', obj('Job', 'j', undefined, ref('CronJob', 'c')), ['c']],
    [
      'a ReplicaSet owned by a look-alike Deployment',
      obj('ReplicaSet', 'rs', undefined, ref('Deployment', 'd', 'example.com/v1')),
      [],
    ],
    [
      'a ReplicaSet owned by a Rollout',
      obj('ReplicaSet', 'rs', undefined, ref('Rollout', 'r', 'argoproj.io/v1alpha1')),
      [],
    ],
    ['a StatefulSet', obj('StatefulSet', 's', undefined, ref('Deployment', 'd')), []],
    ['a Deployment (the second level)', obj('Deployment', 'd', undefined, ref('Deployment', 'x')), []],
    ['a CronJob (the second level)', obj('CronJob', 'c', undefined, ref('CronJob', 'x')), []],
  ])('given %s, should follow its parents %p', (_name, owner, want) => {
    expect(parentsToFollow(owner).map((r) => r.name)).toEqual(want);
  });
});

describe('FOLLOWED_KINDS', () => {
  it('should hold the four first-level owner kinds and the parents they name, the parents last', () => {
    expect(OWNER_KINDS).toEqual(['ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job']);
    const parents = OWNER_KINDS.flatMap((k) => FOLLOWED_KINDS[k].parents);
    expect(parents).toEqual(['Deployment', 'CronJob']);
    expect(parents.map((k) => followedKind(k)?.level)).toEqual([2, 2]);
  });

  it.each([
    ['ReplicaSet', '/apis/apps/v1/namespaces/shop/replicasets/web-1'],
    ['Deployment', '/apis/apps/v1/namespaces/shop/deployments/web-1'],
    ['StatefulSet', '/apis/apps/v1/namespaces/shop/statefulsets/web-1'],
    ['DaemonSet', '/apis/apps/v1/namespaces/shop/daemonsets/web-1'],
    ['Job', '/apis/batch/v1/namespaces/shop/jobs/web-1'],
    ['CronJob', '/apis/batch/v1/namespaces/shop/cronjobs/web-1'],
  ])('given a %s, ownerApiPath should give its REST path', (kind, path) => {
    expect(ownerApiPath(kind, 'shop', 'web-1')).toBe(path);
  });

  it('given another kind or an odd name, ownerApiPath should refuse it or encode the name', () => {
    expect(ownerApiPath('Rollout', 'shop', 'r')).toBeUndefined();
    expect(ownerApiPath('toString', 'shop', 'r')).toBeUndefined();
    expect(followedKind('constructor')).toBeUndefined();
    expect(ownerApiPath('Job', 'a b', 'x/y')).toBe('/apis/batch/v1/namespaces/a%20b/jobs/x%2Fy');
  });
});

describe('workloadVote', () => {
  const rs = ref('ReplicaSet', 'rs');
  const deploy = ref('Deployment', 'd');
  const chain = (rsValue?: string, dValue?: string) => [
    obj('ReplicaSet', 'rs', rsValue, deploy),
    obj('Deployment', 'd', dValue),
  ];

  it.each([
    ['nothing anywhere', pod(undefined, rs), chain(), undefined],
    ['the pod "true"', pod('true', rs), chain(), { value: true, by: { kind: 'Pod', name: 'web-1' } }],
    [
      'the pod "false" under a Deployment "true"',
      pod('false', rs),
      chain(undefined, 'true'),
      { value: false, by: { kind: 'Pod', name: 'web-1' } },
    ],
    [
      'the pod invalid under a Deployment "true"',
      pod('yes', rs),
      chain(undefined, 'true'),
      { value: false, by: { kind: 'Pod', name: 'web-1' } },
    ],
    [
      'the pod "true" under a ReplicaSet "false"',
      pod('true', rs),
      chain('false'),
      { value: true, by: { kind: 'Pod', name: 'web-1' } },
    ],
    [
      'a Deployment "true"',
      pod(undefined, rs),
      chain(undefined, 'true'),
      { value: true, by: { kind: 'Deployment', name: 'd' } },
    ],
    [
      'a ReplicaSet "false" under a Deployment "true"',
      pod(undefined, rs),
      chain('false', 'true'),
      { value: false, by: { kind: 'ReplicaSet', name: 'rs' } },
    ],
    [
      'a ReplicaSet "true" under a Deployment "false"',
      pod(undefined, rs),
      chain('true', 'false'),
      { value: true, by: { kind: 'ReplicaSet', name: 'rs' } },
    ],
    ['the ReplicaSet not fetched', pod(undefined, rs), [obj('Deployment', 'd', 'true')], undefined],
    [
      'a look-alike ReplicaSet "true"',
      pod(undefined, ref('ReplicaSet', 'rs', 'example.com/v1')),
      chain('true'),
      undefined,
    ],
    [
      'a third level "true"',
      pod(undefined, rs),
      [
        obj('ReplicaSet', 'rs', undefined, deploy),
        obj('Deployment', 'd', undefined, ref('Deployment', 'g')),
        obj('Deployment', 'g', 'true'),
      ],
      undefined,
    ],
    [
      'two chains that disagree',
      pod(undefined, ref('StatefulSet', 'a'), ref('DaemonSet', 'b')),
      [obj('StatefulSet', 'a', 'true'), obj('DaemonSet', 'b', 'false')],
      { value: false, by: { kind: 'DaemonSet', name: 'b' } },
    ],
  ])('given %s, should decide %p', (_name, p, owners, want) => {
    expect(workloadVote(p, owners).vote).toEqual(want);
  });

  it('given a pod and its chain, should report every object read, the pod first', () => {
    const { read } = workloadVote(pod(undefined, rs), chain('true', 'false'));
    expect(read.map((o) => `${o.kind}/${o.metadata?.name ?? ''}`)).toEqual([
      'Pod/web-1',
      'ReplicaSet/rs',
      'Deployment/d',
    ]);
    expect(workloadVote(undefined, []).read).toEqual([{ kind: 'Pod', metadata: undefined }]);
  });

  const value = fc.constantFrom(undefined, 'true', 'false', 'yes');
  it('given any values, the order of the fetched owners and unrelated objects should not matter', () => {
    fc.assert(
      fc.property(value, value, value, value, fc.boolean(), (p, r, d, s, noise) => {
        const owners = [...chain(r, d), obj('StatefulSet', 's', s)];
        const extra = noise ? [obj('ReplicaSet', 'other', 'true'), obj('Deployment', 'x', 'false')] : [];
        const thePod = pod(p, rs, ref('StatefulSet', 's'));
        const vote = workloadVote(thePod, owners).vote;
        expect(workloadVote(thePod, [...extra, ...owners].reverse()).vote).toEqual(vote);
        if (p !== undefined)
          expect(vote).toEqual({ value: p === 'true', by: { kind: 'Pod', name: 'web-1' } });
        if (vote?.value) expect([p, r, d, s]).toContain('true');
      }),
    );
  });
});
