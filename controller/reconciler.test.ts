import { pino } from 'pino';
import type { CleanupInput, SalvageInput } from '../workflows/index.js';
import type { ControllerEvent } from './events.js';
import { podKey, Reconciler, type ReconcilerDeps } from './reconciler.js';
import { slimNode, type NodeImages, type RemoteResolveResult } from './resolve.js';
import type { Namespace, OwnerObject, Pod } from './types.js';

const D = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;
const OPT_IN = { 'tote.dev/auto-salvage': 'true' };

function failingPod(opts: {
  ns?: string;
  name?: string;
  uid?: string;
  image?: string;
  reason?: string;
  message?: string;
  annotations?: Record<string, string>;
  owner?: { kind: string; name: string };
}): Pod {
  const image = opts.image ?? `registry.example:5000/team/app@${D}`;
  return {
    metadata: {
      namespace: opts.ns ?? 'shop',
      name: opts.name ?? 'web',
      uid: opts.uid ?? 'uid-1',
      annotations: opts.annotations,
      ownerReferences: opts.owner ? [{ apiVersion: 'apps/v1', controller: true, ...opts.owner }] : undefined,
    },
    spec: { nodeName: 'node-a', containers: [{ name: 'app', image }] },
    status: {
      containerStatuses: [
        {
          name: 'app',
          image,
          imageID: '',
          state: { waiting: { reason: opts.reason ?? 'ImagePullBackOff', message: opts.message } },
        },
      ],
    },
  };
}

const ns = (name: string, annotations?: Record<string, string>): Namespace => ({
  metadata: { name, annotations },
});

function setup(
  opts: {
    enabled?: boolean;
    remote?: (ref: string) => Promise<RemoteResolveResult>;
    failStarts?: number;
    /** Starts answered "cooling down" (the last run failed too recently) before they go through. */
    deferStarts?: number;
  } = {},
) {
  const pods = new Map<string, Pod>();
  const namespaces = new Map<string, Namespace>([
    ['shop', ns('shop', { 'tote.dev/allow': 'true' })],
    ['closed', ns('closed')],
    ['kube-system', ns('kube-system', { 'tote.dev/allow': 'true' })],
  ]);
  const nodes: NodeImages[] = [];
  const owners: OwnerObject[] = [];
  const salvages: SalvageInput[] = [];
  const cleanups: CleanupInput[] = [];
  const events: ControllerEvent[] = [];
  const counts: Record<string, number> = {};
  const bump = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);
  let failStarts = opts.failStarts ?? 0;
  let deferStarts = opts.deferStarts ?? 0;
  let startCalls = 0;
  const deps: ReconcilerDeps = {
    pods: { get: (k) => pods.get(k), values: () => pods.values() },
    namespaces: { get: (n) => namespaces.get(n) },
    nodes: { values: () => nodes.values() },
    owners: {
      ownersOf: async (pod) =>
        owners.filter(
          (o) =>
            pod.metadata?.ownerReferences?.some((r) => r.name === o.metadata?.name) ||
            o.kind === 'Deployment',
        ),
    },
    starter: {
      startSalvage: async (input) => {
        startCalls++;
        if (failStarts-- > 0) throw new Error('temporal unavailable');
        if (deferStarts-- > 0)
          return {
            workflowId: `salvage/${input.digest}/${input.node}`,
            lastStatus: 'FAILED',
            retryInMs: 60_000,
          };
        salvages.push(input);
        return `salvage/${input.digest}/${input.node}`;
      },
      startCleanup: async (input) => {
        cleanups.push(input);
        return `cleanup/${input.digest}/${input.node}`;
      },
    },
    remote: opts.remote ? { resolve: (req) => opts.remote!(req.reference) } : undefined,
    events: { record: async (e) => void events.push(e) },
    metrics: {
      detected: (r) => bump(`detected:${r}`),
      workflowStart: (w, r) => bump(`start:${w}:${r}`),
      notActionable: (w) => bump(`notActionable:${w}`),
      annotationProblem: (k) => bump(`annotation:${k}`),
      ignored: (w) => bump(`ignored:${w}`),
    },
    logger: pino({ level: 'silent' }),
    config: { enabled: opts.enabled ?? true, mode: 'auto', registryResolve: false },
    retryBackoffMs: 1,
  };
  const r = new Reconciler(deps);
  const put = async (pod: Pod) => {
    pods.set(podKey(pod), pod);
    r.enqueue(pod);
    await r.idle();
  };
  return {
    ...{ r, pods, namespaces, nodes, owners, salvages, cleanups, events, counts, put },
    startCalls: () => startCalls,
  };
}

test('given an opted-in pod pulling a digest reference, one salvage starts however often it is seen', async () => {
  const t = setup();
  const pod = failingPod({ annotations: OPT_IN });
  await t.put(pod);
  await t.put(failingPod({ annotations: OPT_IN, reason: 'ErrImagePull' }));
  await t.put(pod);
  expect(t.salvages).toEqual([
    {
      digest: D,
      imageRef: `registry.example:5000/team/app@${D}`,
      node: 'node-a',
      pod: { namespace: 'shop', name: 'web', uid: 'uid-1' },
      container: 'app',
      reason: 'ImagePullBackOff',
    },
  ]);
  expect(t.counts).toEqual({ 'detected:ImagePullBackOff': 1, 'start:salvageImage:ok': 1 });
  await t.r.stop();
});

test.each([
  ['a namespace without tote.dev/allow', { ns: 'closed', annotations: OPT_IN }, {}, 'namespace-not-opted-in'],
  ['a pod without tote.dev/auto-salvage', {}, {}, 'pod-not-opted-in'],
  ['kube-system', { ns: 'kube-system', annotations: OPT_IN }, {}, 'denied-namespace'],
  ['--enabled=false', { annotations: OPT_IN }, { enabled: false }, 'disabled'],
])('given %s, nothing starts', async (_what, podOpts, setupOpts, why) => {
  const t = setup(setupOpts);
  await t.put(failingPod(podOpts));
  await t.put(failingPod({ ...podOpts, reason: 'ErrImagePull' }));
  expect(t.salvages).toEqual([]);
  expect(t.counts['detected:ImagePullBackOff']).toBeUndefined();
  expect(t.counts[`ignored:${why}`]).toBe(1);
  await t.r.stop();
});

test('given a namespace that opts in later, namespaceChanged starts the waiting salvage', async () => {
  const t = setup();
  await t.put(failingPod({ ns: 'closed', annotations: OPT_IN }));
  expect(t.salvages).toHaveLength(0);
  t.namespaces.set('closed', ns('closed', { 'tote.dev/allow': 'true' }));
  t.r.namespaceChanged('closed');
  await t.r.idle();
  expect(t.salvages).toHaveLength(1);
  await t.r.stop();
});

test('given a Deployment carrying the opt-in, its pod (through the ReplicaSet) is salvaged', async () => {
  const t = setup();
  t.owners.push(
    {
      kind: 'ReplicaSet',
      metadata: {
        name: 'web-1',
        namespace: 'shop',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
      },
    },
    { kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', annotations: OPT_IN } },
  );
  await t.put(failingPod({ owner: { kind: 'ReplicaSet', name: 'web-1' } }));
  expect(t.salvages).toHaveLength(1);
  await t.r.stop();
});

test('given a bad tote.dev annotation, one Warning names the key and nothing crashes', async () => {
  const t = setup();
  const pod = failingPod({ annotations: { 'tote.dev/auto-salvage': 'yes', 'tote.dev/colour': 'red' } });
  await t.put(pod);
  await t.put(pod);
  const notes = t.events.filter((e) => e.reason === 'InvalidAnnotation').map((e) => e.note);
  expect(notes).toHaveLength(2);
  expect(notes.join('\n')).toContain('tote.dev/auto-salvage');
  expect(notes.join('\n')).toContain('tote.dev/colour');
  expect(t.salvages).toEqual([]);
  await t.r.stop();
});

test('given a tag-only image that Node.status.images knows, the salvage starts for that digest', async () => {
  const t = setup();
  t.nodes.push(
    slimNode({
      metadata: { name: 'node-b' },
      status: {
        images: [{ names: [`registry.example:5000/team/app@${D2}`, 'registry.example:5000/team/app:v1'] }],
      },
    }),
  );
  await t.put(failingPod({ image: 'registry.example:5000/team/app:v1', annotations: OPT_IN }));
  expect(t.salvages.map((s) => [s.digest, s.imageRef])).toEqual([[D2, 'registry.example:5000/team/app:v1']]);
  await t.r.stop();
});

test('given a tag nothing local knows and no remote resolver, ImageNotActionable is recorded once', async () => {
  const t = setup();
  const pod = failingPod({ image: 'registry.example:5000/team/app:v9', annotations: OPT_IN });
  await t.put(pod);
  await t.put(pod);
  expect(t.salvages).toEqual([]);
  expect(t.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'ImageNotActionable']]);
  expect(t.events[0]?.note).toContain('technical debt');
  await t.r.stop();
});

test('given a tag the remote resolver knows, the pod waits for it and is salvaged after', async () => {
  let answer!: (r: RemoteResolveResult) => void;
  const calls: string[] = [];
  const t = setup({
    remote: (ref) => {
      calls.push(ref);
      return new Promise((r) => (answer = r));
    },
  });
  await t.put(failingPod({ image: 'registry.example:5000/team/app:v2', annotations: OPT_IN }));
  await t.put(
    failingPod({
      name: 'web2',
      uid: 'uid-2',
      image: 'registry.example:5000/team/app:v2',
      annotations: OPT_IN,
    }),
  );
  expect(calls).toEqual(['registry.example:5000/team/app:v2']);
  answer({ digest: D2, via: 'agents' });
  await new Promise((r) => setImmediate(r));
  await t.r.idle();
  expect(t.salvages.map((s) => `${s.pod.name} ${s.digest}`).sort()).toEqual([`web ${D2}`, `web2 ${D2}`]);
  await t.r.stop();
});

test('given Temporal failing at first, the start is retried until it succeeds', async () => {
  const t = setup({ failStarts: 2 });
  await t.put(failingPod({ annotations: OPT_IN }));
  for (let i = 0; i < 100 && t.salvages.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  expect(t.salvages).toHaveLength(1);
  expect(t.counts['start:salvageImage:error']).toBe(2);
  expect(t.counts['detected:ImagePullBackOff']).toBe(1);
  await t.r.stop();
});

test('given CreateContainerError from missing content, cleanupCorruptImage starts; other errors start nothing', async () => {
  const t = setup();
  const corrupt =
    'failed to create containerd container: error unpacking image: failed to resolve rootfs: content digest sha256:' +
    'c'.repeat(64) +
    ': not found';
  await t.put(failingPod({ reason: 'CreateContainerError', message: corrupt, annotations: OPT_IN }));
  await t.put(
    failingPod({
      name: 'cfg',
      uid: 'u2',
      reason: 'CreateContainerError',
      message: 'configmap "x" not found',
      annotations: OPT_IN,
    }),
  );
  expect(t.cleanups.map((c) => [c.digest, c.pod.name])).toEqual([[D, 'web']]);
  expect(t.salvages).toEqual([]);
  await t.r.stop();
});

test('given a pod deleted and recreated under the same name, the new pod is handled again', async () => {
  const t = setup();
  await t.put(failingPod({ annotations: OPT_IN }));
  t.pods.clear();
  t.r.enqueue(failingPod({ annotations: OPT_IN }));
  await t.r.idle();
  await t.put(failingPod({ uid: 'uid-new', annotations: OPT_IN }));
  expect(t.salvages.map((s) => s.pod.uid)).toEqual(['uid-1', 'uid-new']);
  await t.r.stop();
});

test('given a salvage whose last run failed too recently, the start is held back until a resync after the cool-down', async () => {
  const t = setup({ deferStarts: 2 });
  const pod = failingPod({ annotations: OPT_IN });
  await t.put(pod);
  expect(t.salvages).toEqual([]);
  expect(t.counts['start:salvageImage:deferred']).toBe(1);
  // The detection stays unhandled: each resync asks again (the starter decides whether the cool-down is over).
  t.r.resync();
  await t.r.idle();
  expect(t.salvages).toEqual([]);
  t.r.resync();
  await t.r.idle();
  expect(t.salvages.map((s) => s.node)).toEqual(['node-a']);
  expect(t.counts['start:salvageImage:ok']).toBe(1);
  // Started: later resyncs and updates leave it alone.
  t.r.resync();
  await t.put(pod);
  expect(t.startCalls()).toBe(3);
});
