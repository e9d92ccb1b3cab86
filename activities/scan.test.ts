import { MockActivityEnvironment } from '@temporalio/testing';
import { TECHNICAL_DEBT } from '../common/technical-debt.js';
import type { AgentEndpoint, ManifestPort, RunningPod } from './deps.js';
import { fakeAgent, fakeConfig, fakeDeps, fakeKube } from './fake-deps.js';
import { createScanActivities, lastCopyMessage } from './scan.js';
import { groupImages } from './scan-pods.js';

const A = `sha256:${'aa'.repeat(32)}`;
const B = `sha256:${'bb'.repeat(32)}`;
const REG = 'registry.gone:5000';

/** Runs one activity in a mock activity context, keeping its result type. */
async function run<I, O>(fn: (input: I) => Promise<O>, input: I): Promise<O> {
  return (await new MockActivityEnvironment().run(fn, input)) as O;
}

function pod(
  name: string,
  node: string,
  containers: RunningPod['containers'],
  namespace = 'shop',
): RunningPod {
  return { namespace, name, uid: `uid-${name}`, node, containers };
}

describe('groupImages', () => {
  test('given a status imageID, a pinned digest and a tag-only reference, should group by name@digest or reference', () => {
    const groups = groupImages([
      pod('web-2', 'n2', [{ name: 'app', image: `${REG}/app:1`, imageID: `${REG}/app@${A}` }]),
      pod('web-1', 'n1', [{ name: 'app', image: `${REG}/app:1`, imageID: `${REG}/app@${A}` }]),
      pod('job', 'n1', [
        { name: 'init', image: `${REG}/tool@${B}` },
        { name: 'main', image: 'nginx' },
        { name: 'bad', image: 'UPPER/Case' },
      ]),
    ]);
    expect(groups.map((g) => [g.key, g.digest, g.tag, g.podCount])).toEqual([
      ['docker.io/library/nginx:latest', undefined, 'latest', 1],
      [`${REG}/app@${A}`, A, '1', 2],
      [`${REG}/tool@${B}`, B, undefined, 1],
    ]);
    // Pods in name order: the first pod (the one warned) does not depend on the list order.
    expect(groups[1]?.pods.map((p) => p.name)).toEqual(['web-1', 'web-2']);
    expect(groups[1]?.image).toBe(`${REG}/app:1`);
  });

  test('given a config-digest imageID, should not take it for a manifest digest', () => {
    const [g] = groupImages([pod('p', 'n1', [{ name: 'c', image: `${REG}/app:1`, imageID: A }])]);
    expect(g?.digest).toBeUndefined();
  });
});

describe('listImagesInUse', () => {
  test('given namespaces with and without tote.dev/allow, should mark which images may be pushed', async () => {
    const deps = fakeDeps({
      config: fakeConfig({ backup: { registry: 'backup:5000', insecure: true } }),
      kube: fakeKube({
        listRunningPods: async (ns) => {
          expect(ns).toBeUndefined();
          return [
            pod('a', 'n1', [{ name: 'c', image: `${REG}/a@${A}` }], 'open'),
            pod('b', 'n1', [{ name: 'c', image: `${REG}/b@${B}` }], 'closed'),
          ];
        },
        getNamespace: async (n) => ({
          annotations: (n === 'open' ? { 'tote.dev/allow': 'true' } : {}) as Record<string, string>,
          ownerReferences: [],
        }),
      }),
    });
    const r = await run(createScanActivities(deps).listImagesInUse, {});
    expect(r.backupRegistry).toBe('backup:5000');
    expect(r.images.map((i) => [i.digest, i.allowed])).toEqual([
      [A, true],
      [B, false],
    ]);
  });
});

describe('countImageHolders', () => {
  const nodes = ['n1', 'n2', 'n3'].map((name) => ({ name, imageNames: [] as string[] }));
  test('given records on some agents, should count only complete copies and report silent agents', async () => {
    const deps = fakeDeps({
      kube: fakeKube({ listNodes: async () => nodes }),
      agent: fakeAgent({
        listImages: async (a: AgentEndpoint) => {
          if (a.node === 'n3') throw new Error('connect ECONNREFUSED');
          return [{ name: `${REG}/app:1`, digest: A, sizeBytes: 10 }];
        },
        hasImage: async (a: AgentEndpoint) => ({ present: true, complete: a.node === 'n1', sizeBytes: 10 }),
      }),
    });
    const r = await run(createScanActivities(deps).countImageHolders, {
      images: [
        { key: 'k1', name: `${REG}/app`, tag: '1', digest: A },
        { key: 'k2', name: `${REG}/app`, tag: '1' },
        { key: 'k3', name: `${REG}/other`, digest: B },
      ],
    });
    expect(r.unreachable).toEqual(['n3']);
    expect(r.images).toEqual([
      { key: 'k1', digest: A, holders: ['n1'] },
      { key: 'k2', digest: A, resolvedVia: 'agents', holders: ['n1'] },
      { key: 'k3', digest: B, holders: [] },
    ]);
  });

  test('given Node.status.images pairing the tag with one digest, should resolve through it first', async () => {
    const deps = fakeDeps({
      kube: fakeKube({
        listNodes: async () => [{ name: 'n1', imageNames: [`${REG}/app:1`, `${REG}/app@${B}`] }],
      }),
      agent: fakeAgent({ listImages: async () => [] }),
    });
    const r = await run(createScanActivities(deps).countImageHolders, {
      images: [{ key: 'k', name: `${REG}/app`, tag: '1' }],
    });
    expect(r.images).toEqual([{ key: 'k', digest: B, resolvedVia: 'node-status', holders: [] }]);
  });
});

describe('checkRegistryCopies', () => {
  test('given HEAD answers, should pass them on by key; a mismatched digest or no digest is unknown', async () => {
    const asked: string[] = [];
    const manifests: ManifestPort = {
      headManifest: async (req) => {
        asked.push(`${req.insecure ? 'http' : 'https'}://${req.registry}/${req.repository}@${req.reference}`);
        if (req.repository === 'gone') return { copy: 'gone' };
        if (req.repository === 'liar') return { copy: 'present', digest: B };
        return { copy: 'present', digest: A };
      },
    };
    const deps = fakeDeps({ manifests });
    const r = await run(createScanActivities(deps).checkRegistryCopies, {
      insecure: true,
      images: [
        { key: 'here', image: `${REG}/here:1`, digest: A },
        { key: 'gone', image: `${REG}/gone:1`, digest: A },
        { key: 'liar', image: `${REG}/liar:1`, digest: A },
        { key: 'nodigest', image: `${REG}/x:1`, digest: null },
      ],
    });
    expect(r).toEqual([
      { key: 'here', copy: 'present' },
      { key: 'gone', copy: 'gone' },
      { key: 'liar', copy: 'unknown', detail: `registry answered digest ${B}` },
      { key: 'nodigest', copy: 'unknown', detail: 'digest unknown' },
    ]);
    expect(asked).toContain(`http://${REG}/here@${A}`);
    expect(asked).toHaveLength(3);
  });

  test('given a worker without a registry client, should answer unknown for every image', async () => {
    const r = await run(createScanActivities(fakeDeps()).checkRegistryCopies, {
      insecure: false,
      images: [{ key: 'k', image: `${REG}/a:1`, digest: A }],
    });
    expect(r).toEqual([{ key: 'k', copy: 'unknown', detail: 'this worker has no registry client' }]);
  });
});

describe('warnLastCopy', () => {
  test('should record a Warning on the pod naming the holders, the workflow and the technical debt', async () => {
    const kube = fakeKube();
    const input = {
      pod: { namespace: 'shop', name: 'web-1', uid: 'u1', node: 'n1' },
      image: `${REG}/app:1`,
      digest: A,
      holders: ['n1'],
      minCopies: 1,
      podCount: 3,
      workflowId: 'scan/x',
    };
    await run(createScanActivities(fakeDeps({ kube })).warnLastCopy, input);
    expect(kube.events).toHaveLength(1);
    const e = kube.events[0];
    expect(e).toMatchObject({ type: 'Warning', reason: 'ImageLastCopy', pod: { name: 'web-1', uid: 'u1' } });
    expect(e?.message).toContain('only 1 node holds a complete copy: [n1]');
    expect(e?.message).toContain('used by 3 running pods');
    expect(e?.message).toContain('(workflow scan/x).');
    expect(e?.message).toContain(TECHNICAL_DEBT);
    expect(lastCopyMessage({ ...input, holders: [] })).toContain('no node with a reachable tote agent');
  });
});
