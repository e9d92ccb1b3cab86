import type { NodeImages } from '../controller/resolve.js';
import type { ContainerStatus, Pod } from '../controller/types.js';
import { UserError } from './errors.js';
import {
  chooseTargets,
  parsePodArg,
  refuseDeniedNamespace,
  refuseNamespaceWithoutConsent,
  type PodFacts,
} from './salvage-target.js';

const D = `sha256:${'d'.repeat(64)}`;
const E = `sha256:${'e'.repeat(64)}`;
const ARG = { namespace: 'shop', name: 'web-1' };

function waiting(name: string, reason: string, extra: Partial<ContainerStatus> = {}): ContainerStatus {
  return { name, image: '', imageID: '', state: { waiting: { reason } }, ...extra };
}

function pod(
  statuses: ContainerStatus[],
  containers: Array<[string, string]>,
  node: string | undefined = 'node-2',
): Pod {
  return {
    metadata: { name: 'web-1', namespace: 'shop', uid: 'uid-1' },
    spec: { nodeName: node, containers: containers.map(([name, image]) => ({ name, image })) },
    status: { containerStatuses: statuses },
  };
}

function facts(p: Pod, cluster: { pods?: Pod[]; nodes?: NodeImages[] } = {}): PodFacts & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    pod: p,
    neighbours: async () => (reads.push('pods'), cluster.pods ?? []),
    nodes: async () => (reads.push('nodes'), cluster.nodes ?? []),
  };
}

const opts = { requestedBy: 'alice@host' };

async function refused(p: Promise<unknown>): Promise<string> {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UserError);
  return (err as Error).message;
}

describe('pod argument and namespace', () => {
  test('parsePodArg splits namespace and pod', () => {
    expect(parsePodArg(' shop/web-7c9f8-x2x4q ')).toEqual({ namespace: 'shop', name: 'web-7c9f8-x2x4q' });
  });

  test.each(['web-1', 'shop/', '/web', 'a/b/c', 'Shop/web', 'shop/web_1'])(
    'parsePodArg refuses %p with an example',
    (v) => {
      expect(() => parsePodArg(v)).toThrow(/^expected <namespace>\/<pod>, e\.g\. shop\//);
    },
  );

  test.each(['kube-system', 'kube-public', 'kube-node-lease'])('refuses the denied namespace %s', (ns) => {
    expect(() => refuseDeniedNamespace(ns)).toThrow(`tote never acts in ${ns}`);
  });

  test('a namespace without tote.dev/allow is refused with the command that fixes it', () => {
    expect(() => refuseNamespaceWithoutConsent('shop', {})).toThrow(
      'namespace shop does not allow tote (tote.dev/allow is missing); if its owners agree: kubectl annotate namespace shop tote.dev/allow=true',
    );
    expect(() => refuseNamespaceWithoutConsent('shop', { 'tote.dev/allow': 'false' })).toThrow('is "false"');
    expect(() => refuseNamespaceWithoutConsent('shop', { 'tote.dev/allow': 'true' })).not.toThrow();
  });
});

describe('chooseTargets', () => {
  test('given a pinned digest, should salvage it onto the pod node without reading the cluster', async () => {
    const f = facts(pod([waiting('app', 'ImagePullBackOff')], [['app', `registry.gone/app@${D}`]]));
    const c = await chooseTargets(f, ARG, opts);
    expect(c.targets).toEqual([
      {
        via: 'reference',
        input: {
          digest: D,
          imageRef: `registry.gone/app@${D}`,
          node: 'node-2',
          pod: { namespace: 'shop', name: 'web-1', uid: 'uid-1' },
          container: 'app',
          reason: 'ImagePullBackOff',
          requestedBy: 'alice@host',
        },
      },
    ]);
    expect(f.reads).toEqual([]);
  });

  test("given a tag and the pod's own repo-digest imageID, should use it", async () => {
    const s = waiting('app', 'ErrImagePull', {
      image: 'registry.gone/app:1.0',
      imageID: `registry.gone/app@${D}`,
    });
    const c = await chooseTargets(facts(pod([s], [['app', 'registry.gone/app:1.0']])), ARG, opts);
    expect(c.targets.map((t) => [t.input.digest, t.via])).toEqual([[D, 'pod-image-id']]);
  });

  test('given a tag only Node.status.images knows, should read the nodes', async () => {
    const nodes = [{ name: 'node-1', images: [[`registry.gone/app@${E}`, 'registry.gone/app:1.0']] }];
    const f = facts(pod([waiting('app', 'ImagePullBackOff')], [['app', 'registry.gone/app:1.0']]), { nodes });
    const c = await chooseTargets(f, ARG, opts);
    expect(c.targets.map((t) => [t.input.digest, t.via])).toEqual([[E, 'node-status-images']]);
    expect(f.reads.sort()).toEqual(['nodes', 'pods']);
  });

  test('given a tag nobody in the cluster resolves, should leave it to the resolveImage workflow', async () => {
    const c = await chooseTargets(
      facts(pod([waiting('app', 'ImagePullBackOff')], [['app', 'registry.gone/app:1.0']])),
      ARG,
      opts,
    );
    expect(c.targets).toEqual([]);
    expect(c.unresolved.map((u) => [u.reference, u.input.container, u.input.node])).toEqual([
      ['registry.gone/app:1.0', 'app', 'node-2'],
    ]);
  });

  test('given --digest, should use it for a tag', async () => {
    const c = await chooseTargets(facts(pod([waiting('app', 'ImagePullBackOff')], [['app', 'app:1']])), ARG, {
      ...opts,
      digest: D,
    });
    expect(c.targets.map((t) => [t.input.digest, t.via])).toEqual([[D, 'flag']]);
  });

  test('given a bad --digest, should name the flag', async () => {
    const f = facts(pod([waiting('app', 'ImagePullBackOff')], [['app', 'app:1']]));
    expect(await refused(chooseTargets(f, ARG, { ...opts, digest: 'sha256:xyz' }))).toContain(
      '--digest: invalid value',
    );
  });

  test('given --digest and two failing images, should ask for --container', async () => {
    const p = pod(
      [waiting('app', 'ImagePullBackOff'), waiting('side', 'ErrImagePull')],
      [
        ['app', 'app:1'],
        ['side', 'side:1'],
      ],
    );
    expect(await refused(chooseTargets(facts(p), ARG, { ...opts, digest: D }))).toContain('add --container');
    const one = await chooseTargets(facts(p), ARG, { ...opts, digest: D, container: 'side' });
    expect(one.targets.map((t) => t.input.container)).toEqual(['side']);
  });

  test('given two containers with the same image, should salvage it once', async () => {
    const p = pod(
      [waiting('a', 'ImagePullBackOff'), waiting('b', 'ErrImagePull')],
      [
        ['a', `x/app@${D}`],
        ['b', `x/app@${D}`],
      ],
    );
    expect((await chooseTargets(facts(p), ARG, opts)).targets).toHaveLength(1);
  });

  test('given a CreateContainerError from a corrupt image, should skip it and say who handles it', async () => {
    const s: ContainerStatus = {
      name: 'app',
      state: {
        waiting: {
          reason: 'CreateContainerError',
          message: `failed to resolve rootfs: content digest ${D}: not found`,
        },
      },
    };
    const c = await chooseTargets(facts(pod([s], [['app', `x/app@${D}`]])), ARG, opts);
    expect(c.targets).toEqual([]);
    expect(c.skipped).toEqual([
      {
        container: 'app',
        reason: 'CreateContainerError',
        why: expect.stringContaining('cleanupCorruptImage') as string,
      },
    ]);
  });

  test('given no failing container, should say there is nothing to salvage', async () => {
    const p = pod([{ name: 'app', state: {} }], [['app', 'app:1']]);
    expect(await refused(chooseTargets(facts(p), ARG, opts))).toContain(
      'has no container waiting on its image',
    );
  });

  test('given an unknown --container, should list the failing ones', async () => {
    const p = pod([waiting('app', 'ImagePullBackOff')], [['app', 'app:1']]);
    expect(await refused(chooseTargets(facts(p), ARG, { ...opts, container: 'nope' }))).toBe(
      'container "nope" is not waiting on its image; failing: app',
    );
  });

  test('given an unscheduled pod, should say there is no node', async () => {
    const p = pod([waiting('app', 'ImagePullBackOff')], [['app', 'app:1']], '');
    expect(await refused(chooseTargets(facts(p), ARG, opts))).toContain('is not scheduled on a node yet');
  });
});
