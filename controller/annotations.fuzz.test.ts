/**
 * Bad-input fuzz of the controller's pure layer (issue 8 item 4): thousands of generated annotation maps, owner
 * chains and pod objects go through readToteAnnotations, decideOptIn, detectFailures and planAction. None may
 * throw; every annotation problem names a key that is really there; nothing is allowed unless the exact strings
 * "true" opt it in; every salvage plan carries a valid digest and the workflow id derived from it.
 */
import fc from 'fast-check';
import { DIGEST_RE } from '../common/digest.js';
import {
  ANNOTATIONS,
  DENIED_NAMESPACES,
  SALVAGE_MODES,
  cleanupWorkflowId,
  salvageWorkflowId,
} from '../common/names.js';
import { annotationText, readToteAnnotations, type AnnotationScope } from './annotations.js';
import { FAILURE_REASONS, detectFailures, planAction } from './detect.js';
import { decideOptIn, type OptInInput } from './opt-in.js';
import {
  slimPod,
  type Annotations,
  type ContainerStatus,
  type OwnerObject,
  type OwnerReference,
  type Pod,
} from './types.js';

const RUNS = 3000;
/** Outcomes reached, so a generator that stops reaching the deep paths fails loudly. */
const reached = { optIn: new Set<string>(), plans: new Set<string>() };
const KNOWN_KEYS = Object.values(ANNOTATIONS);

/** Keys: tote's own, near misses, other prefixes, prototype names, long and odd Unicode ones. */
const key = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KNOWN_KEYS) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'tote.dev/Allow',
      'tote.dev/auto_salvage',
      'tote.dev/',
      'tote.dev/__proto__',
      'tote.dev/constructor',
      'tote.dev/toString',
      'tote.dev//allow',
      'tote.dev/allow ',
      'TOTE.DEV/allow',
      'tote.dev',
      '__proto__',
      'constructor',
      'hasOwnProperty',
      'kubectl.kubernetes.io/last-applied-configuration',
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map((s) => `tote.dev/${s}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 300 }).map((s) => `tote.dev/${s}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
);

/** Values: the accepted ones, their near misses, empty, huge, control characters and lone surrogates. */
const value = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('true', 'false', ...SALVAGE_MODES) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('True', 'TRUE', ' true', 'true\n', 'yes', '1', '', 'Auto', 'detect', '\u0000'),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 80 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.string({ minLength: 1000, maxLength: 70_000, unit: fc.constantFrom('a', 'é', '😀') }),
  },
);

// Object.fromEntries, not fc.dictionary: "__proto__" must become an own key, as JSON.parse makes it.
const annotations = fc
  .array(fc.tuple(key, value), { maxLength: 8 })
  .map((entries) => Object.fromEntries(entries) as Annotations);

/** What the API server can never send but a broken client cache might: non-string values. */
const looseAnnotations = fc
  .array(fc.tuple(key, fc.oneof(value, fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<unknown>)), {
    maxLength: 6,
  })
  .map((entries) => Object.fromEntries(entries) as unknown as Annotations);

const scope = fc.constantFrom<AnnotationScope | undefined>('namespace', 'workload', undefined);

function expectProblemsName(
  ann: Annotations | undefined,
  problems: readonly { key: string; message: string }[],
): void {
  const keys = new Set(Object.keys(ann ?? {}));
  for (const p of problems) {
    expect(keys.has(p.key)).toBe(true);
    expect(p.key.startsWith('tote.dev/')).toBe(true);
    expect(p.message).toContain(p.key);
    // Kubernetes caps an Event message at 1 KiB: besides the key itself, a huge value must only be previewed.
    expect(Buffer.byteLength(p.message)).toBeLessThanOrEqual(1024 + Buffer.byteLength(p.key));
  }
  expect(new Set(problems.map((p) => p.key)).size).toBe(problems.length);
}

describe('readToteAnnotations under generated input', () => {
  it('given any annotation map and scope, never throws and every problem names a key present', () => {
    fc.assert(
      fc.property(fc.oneof(annotations, looseAnnotations), scope, (ann, sc) => {
        const { values, problems } = readToteAnnotations(ann, sc);
        expectProblemsName(ann, problems);
        // Non-string values (never sent by the API server) are read as their string form.
        const raw = Object.fromEntries(Object.entries(ann).map(([k, v]) => [k, annotationText(v)]));
        const readable = (k: string, s: AnnotationScope): boolean =>
          Object.hasOwn(raw, k) && (sc === undefined || sc === s);
        // Only the exact string "true" reads as true; anything else is false or absent.
        expect(values.allow === true).toBe(
          readable(ANNOTATIONS.allow, 'namespace') && raw[ANNOTATIONS.allow] === 'true',
        );
        expect(values.autoSalvage === true).toBe(
          readable(ANNOTATIONS.autoSalvage, 'workload') && raw[ANNOTATIONS.autoSalvage] === 'true',
        );
        if (values.mode !== undefined) expect(SALVAGE_MODES).toContain(values.mode);
        // A value that is neither "true" nor "false" is always reported, under its own key.
        for (const k of [ANNOTATIONS.allow, ANNOTATIONS.autoSalvage]) {
          const v = raw[k];
          if (
            readable(k, k === ANNOTATIONS.allow ? 'namespace' : 'workload') &&
            v !== 'true' &&
            v !== 'false'
          ) {
            expect(problems.map((p) => p.key)).toContain(k);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('given undefined, null-prototype or frozen maps, never throws', () => {
    fc.assert(
      fc.property(annotations, scope, (ann, sc) => {
        const bare = Object.assign(Object.create(null) as Record<string, string>, ann);
        expect(() => readToteAnnotations(bare, sc)).not.toThrow();
        expect(() => readToteAnnotations(Object.freeze({ ...ann }), sc)).not.toThrow();
        expect(readToteAnnotations(undefined, sc)).toEqual({ values: {}, problems: [] });
      }),
      { numRuns: 500 },
    );
  });
});

const name = fc.oneof(
  fc.constantFrom('app', 'web-0', 'kube-system', 'default', '', '__proto__', 'constructor'),
  fc.string({ maxLength: 30 }),
);
const ownerKind = fc.oneof(
  fc.constantFrom('ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'),
  fc.constantFrom('Node', '__proto__', 'constructor', 'toString', ''),
  fc.string({ maxLength: 12 }),
);
const apiVersion = fc.constantFrom('apps/v1', 'batch/v1', 'v1', 'example.com/v1', '', '/');
const ownerRef = fc.record(
  { apiVersion, kind: ownerKind, name, uid: fc.string({ maxLength: 8 }), controller: fc.boolean() },
  { requiredKeys: ['apiVersion', 'kind', 'name'] },
);
const meta = (ns: fc.Arbitrary<string>) =>
  fc.record(
    { name, namespace: ns, annotations, ownerReferences: fc.array(ownerRef, { maxLength: 3 }) },
    { requiredKeys: [] },
  );
const namespaceName = fc.oneof(fc.constantFrom('shop', ...DENIED_NAMESPACES), name);

const rarely = fc.integer({ min: 0, max: 4 }).map((n) => n === 0);
const withValue = (k: string, v: string): fc.Arbitrary<Annotations> =>
  annotations.map((a) => ({ ...a, [k]: v }));

const CHAINS = [
  ['ReplicaSet', 'apps/v1', 'Deployment', 'apps/v1'],
  ['Job', 'batch/v1', 'CronJob', 'batch/v1'],
  ['StatefulSet', 'apps/v1', 'Deployment', 'apps/v1'],
  ['ReplicaSet', 'example.com/v1', 'Deployment', 'apps/v1'],
] as const;

type Meta = NonNullable<OwnerObject['metadata']>;

/** Owners the way controllers own pods (pod → first-level owner → parent), with generated metadata. */
function chainOwners(
  chain: (typeof CHAINS)[number],
  metas: readonly (Meta | undefined)[],
): { refs: OwnerReference[]; owners: OwnerObject[] } {
  const [kind, version, parentKind, parentVersion] = chain;
  const parent = { kind: parentKind, metadata: { ...metas[1], name: metas[1]?.name ?? 'parent' } };
  const parentRef = { apiVersion: parentVersion, kind: parentKind, name: parent.metadata.name };
  const first = {
    kind,
    metadata: { ...metas[0], name: metas[0]?.name ?? 'owner', ownerReferences: [parentRef] },
  };
  return { refs: [{ apiVersion: version, kind, name: first.metadata.name }], owners: [first, parent] };
}

/** `meta` with `tote.dev/auto-salvage` set to "true" (when `optIn`) or removed (when `drop`). */
function vote(meta: Meta | undefined, how: { optIn: boolean; drop?: boolean }): Meta | undefined {
  if (!meta) return meta;
  const annotations = { ...meta.annotations };
  if (how.drop) delete annotations[ANNOTATIONS.autoSalvage];
  if (how.optIn) annotations[ANNOTATIONS.autoSalvage] = 'true';
  return { ...meta, annotations };
}

/** Opt-in inputs: namespaces, pods and owner chains whose names often line up, so deep paths are reached. */
const optInInput: fc.Arbitrary<OptInInput> = fc
  .record({
    ns: namespaceName,
    nsAnnotations: fc.oneof(annotations, withValue(ANNOTATIONS.allow, 'true')),
    nsMissing: rarely,
    nsNameDiffers: rarely,
    pod: meta(namespaceName),
    podInherits: fc.boolean(),
    owners: fc.array(fc.record({ kind: ownerKind, metadata: meta(namespaceName) }), { maxLength: 4 }),
    optedIn: fc.constantFrom(-1, 0, 1, 2),
    chain: fc.option(fc.constantFrom(...CHAINS), { nil: undefined }),
    enabled: fc.oneof(fc.constant(true), fc.boolean()),
    defaultMode: fc.option(fc.constantFrom(...SALVAGE_MODES), { nil: undefined }),
  })
  .map((r): OptInInput => {
    // Often one object (pod, owner or parent) says exactly "true", so the allowed paths are reached too.
    const pod = vote(r.pod, { optIn: r.optedIn === 0, drop: r.podInherits });
    const metas = [1, 2].map((i) => vote(r.owners[i - 1]?.metadata, { optIn: r.optedIn === i }));
    // With a chain, the pod's owner refs point at generated owners, as a Deployment's pod's do; the random
    // owners stay in the list as noise the decision must skip.
    const linked = r.chain
      ? chainOwners(r.chain, metas)
      : { refs: [...(r.pod.ownerReferences ?? [])], owners: [] };
    return {
      namespace: r.nsMissing
        ? undefined
        : { metadata: { name: r.nsNameDiffers ? `${r.ns}-x` : r.ns, annotations: r.nsAnnotations } },
      pod: { metadata: { ...pod, namespace: r.ns, ownerReferences: linked.refs } },
      owners: [...linked.owners, ...r.owners],
      enabled: r.enabled,
      defaultMode: r.defaultMode,
    };
  });

/** Every annotation map the decision may have read, by object kind and name. */
function readable(input: OptInInput): Annotations[] {
  return [
    input.namespace?.metadata?.annotations ?? {},
    input.pod.metadata?.annotations ?? {},
    ...input.owners.map((o) => o.metadata?.annotations ?? {}),
  ];
}

describe('decideOptIn under generated input', () => {
  it('given any namespace, pod and owners, never throws and allows only on exact opt-ins', () => {
    fc.assert(
      fc.property(optInInput, (input) => {
        const d = decideOptIn(input);
        reached.optIn.add(d.allowed ? `allowed-${d.decidedBy.kind === 'Pod' ? 'pod' : 'owner'}` : d.why);
        for (const p of d.problems) {
          expect(readable(input).some((a) => Object.hasOwn(a, p.key))).toBe(true);
          expect(p.message).toContain(p.key);
          expect(typeof p.object.kind).toBe('string');
        }
        if (!d.allowed) return;
        expect(input.enabled).toBe(true);
        const ns = input.pod.metadata?.namespace ?? '';
        expect(DENIED_NAMESPACES).not.toContain(ns);
        expect(input.namespace?.metadata?.name).toBe(ns);
        expect(input.namespace?.metadata?.annotations?.[ANNOTATIONS.allow]).toBe('true');
        expect(SALVAGE_MODES).toContain(d.mode);
        // Whoever decided said exactly "true".
        const by =
          d.decidedBy.kind === 'Pod'
            ? input.pod.metadata
            : input.owners.find((o) => o.kind === d.decidedBy.kind && o.metadata?.name === d.decidedBy.name)
                ?.metadata;
        expect(by?.annotations?.[ANNOTATIONS.autoSalvage]).toBe('true');
      }),
      { numRuns: RUNS },
    );
    // Every guard was exercised, and both kinds of allowed decision.
    expect([...reached.optIn].sort()).toEqual([
      'allowed-owner',
      'allowed-pod',
      'denied-namespace',
      'disabled',
      'namespace-not-opted-in',
      'namespace-unknown',
      'pod-not-opted-in',
      'pod-opted-out',
    ]);
  });

  it('given a disabled tote, never allows whatever the annotations say', () => {
    fc.assert(
      fc.property(optInInput, (input) => {
        expect(decideOptIn({ ...input, enabled: false })).toEqual({
          allowed: false,
          why: 'disabled',
          problems: [],
        });
      }),
      { numRuns: 500 },
    );
  });
});

const hex64 = fc.stringMatching(/^[a-f0-9]{64}$/);
const imageLike = fc.oneof(
  fc.constantFrom(
    'nginx',
    'registry.example/app:v1',
    'registry.example/app@sha256:',
    'REGISTRY/App:V1',
    '',
    ' ',
    ':',
    '@',
    'a@sha256:../../etc',
    'a@sha512:abc',
    'localhost:5000/x/y:z',
    '[::1]:5000/app:1',
  ),
  hex64.map((h) => `registry.example/app@sha256:${h}`),
  hex64.map((h) => `app:v1@sha256:${h}`),
  hex64.map((h) => `app@sha256:${h.toUpperCase()}`),
  fc.string({ unit: fc.constantFrom(...'abAZ09:/@._-[]'.split(''), 'sha256:', 'docker.io/'), maxLength: 80 }),
  fc.string({ maxLength: 300 }),
);
const imageID = fc.oneof(
  fc.constant(''),
  hex64.map((h) => `sha256:${h}`),
  hex64.map((h) => `docker.io/library/nginx@sha256:${h}`),
  fc.tuple(imageLike, hex64).map(([i, h]) => `${i}@sha256:${h}`),
  fc.string({ maxLength: 100 }),
);
const message = fc.oneof(
  fc.constantFrom(
    'failed to resolve rootfs: content digest sha256:0000000000000000000000000000000000000000000000000000000000000000: not found',
    'no space left on device',
    'failed to extract layer',
    'unexpected EOF',
    'config map missing',
  ),
  hex64.map((h) => `failed to create containerd container: content digest sha256:${h}: not found`),
  fc.string({ maxLength: 200 }),
  // Pathological for backtracking regexes: long runs of what the corruption patterns look for.
  fc.integer({ min: 100, max: 20_000 }).map((n) => `content digest sha256:${'a'.repeat(n)}`),
  fc.integer({ min: 100, max: 20_000 }).map((n) => `failed to stat ${'snapshot '.repeat(n / 10)}`),
);
const reason = fc.oneof(
  fc.constantFrom(...FAILURE_REASONS),
  fc.constantFrom('ContainerCreating', 'CrashLoopBackOff', 'InvalidImageName', 'errimagepull', ''),
);
const containerName = fc.oneof(fc.constantFrom('app', 'sidecar', 'init', ''), fc.string({ maxLength: 10 }));
const status: fc.Arbitrary<ContainerStatus> = fc.record(
  {
    name: containerName,
    image: imageLike,
    imageID,
    state: fc.record({ waiting: fc.record({ reason, message }, { requiredKeys: [] }) }, { requiredKeys: [] }),
  },
  { requiredKeys: ['name'] },
);
const spec = fc.record({ name: containerName, image: imageLike }, { requiredKeys: ['name'] });
const pod: fc.Arbitrary<Pod> = fc.record(
  {
    metadata: fc.record(
      {
        name,
        namespace: namespaceName,
        annotations,
        deletionTimestamp: fc.constantFrom('2026-01-01T00:00:00Z', ''),
      },
      { requiredKeys: [] },
    ),
    spec: fc.record(
      {
        nodeName: fc.oneof(fc.constantFrom('node-1', 'node/2', ''), fc.string({ maxLength: 20 })),
        containers: fc.array(spec, { maxLength: 3 }),
        initContainers: fc.array(spec, { maxLength: 2 }),
        ephemeralContainers: fc.array(spec, { maxLength: 1 }),
      },
      { requiredKeys: [] },
    ),
    status: fc.record(
      {
        containerStatuses: fc.array(status, { maxLength: 3 }),
        initContainerStatuses: fc.array(status, { maxLength: 2 }),
        ephemeralContainerStatuses: fc.array(status, { maxLength: 1 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

describe('detectFailures and planAction under generated pods', () => {
  it('given any pod, never throws; salvage and cleanup plans carry a valid digest and its workflow id', () => {
    fc.assert(
      fc.property(pod, (p) => {
        const failures = detectFailures(p);
        expect(detectFailures(slimPod(p))).toEqual(failures);
        if (!p.spec?.nodeName || p.metadata?.deletionTimestamp) expect(failures).toEqual([]);
        for (const f of failures) {
          expect(FAILURE_REASONS).toContain(f.reason);
          expect(f.image).not.toBe('');
          const plan = planAction(f);
          reached.plans.add(
            `${plan.action}-${plan.action === 'none' ? plan.why : String(plan.digest.known)}`,
          );
          if (plan.action === 'none') {
            if (plan.why === 'invalid-reference') expect(plan.error?.code).toEqual(expect.any(String));
            continue;
          }
          if (!plan.digest.known) {
            expect(plan.workflowId).toBeUndefined();
            continue;
          }
          expect(plan.digest.digest).toMatch(DIGEST_RE);
          const id = plan.action === 'salvage' ? salvageWorkflowId : cleanupWorkflowId;
          expect(plan.workflowId).toBe(id(plan.digest.digest, f.node));
          if (plan.action === 'cleanup' && plan.missingBlob) expect(plan.missingBlob).toMatch(DIGEST_RE);
        }
      }),
      { numRuns: RUNS },
    );
    expect([...reached.plans].sort()).toEqual(
      expect.arrayContaining(['cleanup-true', 'none-invalid-reference', 'none-not-image-related']),
    );
    expect([...reached.plans]).toEqual(expect.arrayContaining(['salvage-true', 'salvage-false']));
  });
});
