import { digestForTagFromNodes, majorityDigest, nodeDigestForTag, nodeDigestVotes } from './node-images.js';

const A = `sha256:${'aa'.repeat(32)}`;
const B = `sha256:${'bb'.repeat(32)}`;
const REF = 'docker.io/library/nginx:1.25';

describe('nodeDigestForTag', () => {
  test('given an entry with the tag and one digest of the repository, should pair them', () => {
    expect(nodeDigestForTag([[`docker.io/library/nginx@${A}`, REF]], REF)).toBe(A);
  });

  test('given short names (as Docker reports them) or a short reference, should compare them normalised', () => {
    expect(nodeDigestForTag([[`nginx@${A}`, 'nginx:1.25']], REF)).toBe(A);
    expect(nodeDigestForTag([[`docker.io/library/nginx@${A}`, REF]], 'nginx:1.25')).toBe(A);
  });

  test('given the tag and a digest in different entries, should not pair them', () => {
    expect(
      nodeDigestForTag([[REF], [`docker.io/library/nginx@${A}`, 'docker.io/library/nginx:1.24']], REF),
    ).toBe(undefined);
  });

  test('given a digest of another repository only, should not answer', () => {
    expect(nodeDigestForTag([[`docker.io/other/nginx@${A}`, REF]], REF)).toBeUndefined();
    expect(nodeDigestForTag([[`quay.io/library/nginx@${A}`, REF]], REF)).toBeUndefined();
  });

  test('given two digests of the repository in the entry, should not guess', () => {
    expect(
      nodeDigestForTag([[`docker.io/library/nginx@${A}`, `docker.io/library/nginx@${B}`, REF]], REF),
    ).toBeUndefined();
    // The same digest written short and long is one digest.
    expect(nodeDigestForTag([[`docker.io/library/nginx@${A}`, `nginx@${A}`, REF]], REF)).toBe(A);
  });

  test('given entries that both list the tag, should answer only when they agree', () => {
    const e = (d: string): string[] => [`docker.io/library/nginx@${d}`, REF];
    expect(nodeDigestForTag([e(A), e(A)], REF)).toBe(A);
    expect(nodeDigestForTag([e(A), e(B)], REF)).toBeUndefined();
  });

  test('given another tag, a bare name, a pinned or a malformed reference, should not answer', () => {
    const entries = [
      [`docker.io/library/nginx@${A}`, 'docker.io/library/nginx:1.250', 'docker.io/library/nginx'],
    ];
    expect(nodeDigestForTag(entries, REF)).toBeUndefined();
    expect(nodeDigestForTag(entries, 'docker.io/library/nginx:latest')).toBeUndefined();
    expect(nodeDigestForTag([[`docker.io/library/nginx@${A}`, REF]], `${REF}@${A}`)).toBeUndefined();
    expect(nodeDigestForTag([[`docker.io/library/nginx@${A}`, REF]], 'NOT A REF')).toBeUndefined();
  });
});

describe('across nodes', () => {
  const node = (d: string): string[][] => [[`docker.io/library/nginx@${d}`, REF]];

  test('given one vote per answering node, should give the digest most nodes name', () => {
    const nodes = [node(A), node(B), node(B), [[REF]]];
    expect(nodeDigestVotes(nodes, REF)).toEqual([A, B, B]);
    expect(digestForTagFromNodes(nodes, REF)).toBe(B);
  });

  test('given a tie, should give the smallest digest whatever the node order', () => {
    expect(digestForTagFromNodes([node(B), node(A)], REF)).toBe(A);
    expect(digestForTagFromNodes([node(A), node(B)], REF)).toBe(A);
  });

  test('given no node that answers, should give undefined', () => {
    expect(digestForTagFromNodes([], REF)).toBeUndefined();
    expect(majorityDigest([])).toBeUndefined();
  });
});
