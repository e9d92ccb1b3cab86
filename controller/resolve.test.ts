import { digestFromNodeImages, majorityDigest } from '../common/last-copy.js';
import type { DigestNeed } from './detect.js';
import { digestsFromNodes, resolveLocally, slimNode, type NodeImages } from './resolve.js';
import type { Pod } from './types.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const REF = 'docker.io/library/nginx:1.25';
const need: DigestNeed = {
  known: false,
  reference: REF,
  steps: ['node-status-images', 'agents', 'registry'],
};

function runningPod(image: string, imageID: string): Pod {
  return {
    metadata: { name: 'p', namespace: 'n' },
    spec: { nodeName: 'a', containers: [{ name: 'c', image }] },
    status: { containerStatuses: [{ name: 'c', image, imageID }] },
  };
}

const node = (name: string, images: string[][]): NodeImages =>
  slimNode({ metadata: { name }, status: { images: images.map((names) => ({ names })) } });
const ctx = (pods: Pod[], nodes: NodeImages[]) => ({ pods: () => pods, nodes: () => nodes });

test('given a known digest, it passes through with its source', () => {
  expect(resolveLocally({ known: true, digest: D1, source: 'reference' }, ctx([], []))).toEqual({
    digest: D1,
    via: 'reference',
  });
});

test('given another pod running the same tag, its repo-digest imageID resolves it', () => {
  const pods = [runningPod('nginx:1.25', `docker.io/library/nginx@${D1}`)];
  // Status images are normalised by the runtime; the short spec form must match too.
  pods.push(runningPod('docker.io/library/nginx:1.25', `docker-pullable://docker.io/library/nginx@${D1}`));
  expect(resolveLocally(need, ctx(pods, []))).toEqual({ digest: D1, via: 'other-pod-image-id' });
});

test('given pods of another repository, a bare config id or another tag, pods do not resolve it', () => {
  const pods = [
    runningPod('docker.io/library/nginx:1.26', `docker.io/library/nginx@${D1}`),
    runningPod('docker.io/library/nginx:1.25', D2),
    runningPod('docker.io/library/nginx:1.25', `docker.io/other/nginx@${D1}`),
    runningPod('docker.io/library/nginx:1.25', ''),
  ];
  expect(resolveLocally(need, ctx(pods, [])).digest).toBeUndefined();
});

test('given Node.status.images, the digest most nodes pair with the tag wins', () => {
  const nodes = [
    node('a', [[`docker.io/library/nginx@${D1}`, 'docker.io/library/nginx:1.25']]),
    node('b', [[`docker.io/library/nginx@${D2}`, 'docker.io/library/nginx:1.25']]),
    node('c', [
      [`docker.io/library/nginx@${D2}`, 'docker.io/library/nginx:1.25', 'docker.io/library/nginx:latest'],
    ]),
    node('d', [[`docker.io/library/nginx@${D1}`, 'docker.io/library/nginx:1.24']]),
  ];
  expect(digestsFromNodes(REF, nodes)).toEqual([D1, D2, D2]);
  expect(resolveLocally(need, ctx([], nodes))).toEqual({ digest: D2, via: 'node-status-images' });
});

test('given nothing local, the remaining steps and the config hint are returned for the workflow', () => {
  const withHint: DigestNeed = { ...need, configDigest: D2 };
  expect(resolveLocally(withHint, ctx([], [node('a', [])]))).toEqual({
    reference: REF,
    steps: ['agents', 'registry'],
    configDigest: D2,
  });
});

test('slimNode keeps only entries pairing a tag with a repo digest', () => {
  const n = slimNode({
    metadata: { name: 'a', resourceVersion: '7' },
    status: {
      images: [
        { names: [`r/x@${D1}`, 'r/x:1'] },
        { names: [`r/y@${D1}`] },
        { names: ['r/z:1'] },
        { names: null },
      ],
    },
  });
  expect(n).toEqual({ name: 'a', resourceVersion: '7', images: [[`r/x@${D1}`, 'r/x:1']] });
});

describe('given Node.status.images, the controller and the last-copy scan answer alike', () => {
  // The scan reads each node's names flattened (its Kubernetes adapter joins the entries) and asks the same rule.
  const scanAnswer = (nodes: string[][][]): string | undefined =>
    majorityDigest(
      nodes
        .map((entries) => digestFromNodeImages(entries.flat(), 'docker.io/library/nginx', '1.25'))
        .filter((d): d is string => d !== undefined),
    );
  const controllerAnswer = (nodes: string[][][]): string | undefined =>
    resolveLocally(
      need,
      ctx(
        [],
        nodes.map((entries, i) => node(`n${i}`, entries)),
      ),
    ).digest;

  test.each<[string, string[][][], string | undefined]>([
    [
      'an entry with two digests of the repository is ambiguous',
      [[[`docker.io/library/nginx@${D2}`, `docker.io/library/nginx@${D1}`, 'docker.io/library/nginx:1.25']]],
      undefined,
    ],
    [
      'nodes that tie go to the smallest digest, whatever their order',
      [
        [[`docker.io/library/nginx@${D2}`, 'docker.io/library/nginx:1.25']],
        [[`docker.io/library/nginx@${D1}`, 'docker.io/library/nginx:1.25']],
      ],
      D1,
    ],
    ['short names as Docker reports them are normalised', [[[`nginx@${D1}`, 'nginx:1.25']]], D1],
    [
      'a digest of another repository does not pair',
      [[[`docker.io/other/nginx@${D1}`, 'docker.io/library/nginx:1.25']]],
      undefined,
    ],
  ])('%s', (_, nodes, expected) => {
    expect(controllerAnswer(nodes)).toBe(expected);
    expect(scanAnswer(nodes)).toBe(expected);
  });
});
