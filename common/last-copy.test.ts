import {
  compareRows,
  digestFromNodeImages,
  isAtRisk,
  majorityDigest,
  scanWorkflowId,
  type ScanRow,
} from './last-copy.js';

const A = `sha256:${'aa'.repeat(32)}`;
const B = `sha256:${'bb'.repeat(32)}`;

test('an image is at risk only when gone and on at most minCopies nodes', () => {
  expect(isAtRisk('gone', 1, 1)).toBe(true);
  expect(isAtRisk('gone', 0, 0)).toBe(true);
  expect(isAtRisk('gone', 2, 1)).toBe(false);
  expect(isAtRisk('unknown', 0, 1)).toBe(false);
  expect(isAtRisk('present', 1, 1)).toBe(false);
});

test('Node.status.images yields a digest only when the pairing is unambiguous', () => {
  expect(digestFromNodeImages(['r/app:1', `r/app@${A}`], 'r/app', '1')).toBe(A);
  expect(digestFromNodeImages(['r/app:1', `r/app@${A}`, `r/app@${B}`], 'r/app', '1')).toBeUndefined();
  expect(digestFromNodeImages([`r/app@${A}`], 'r/app', '1')).toBeUndefined();
  expect(digestFromNodeImages(['r/app:1', `r/app-other@${A}`], 'r/app', '1')).toBeUndefined();
});

test('majorityDigest picks the most named digest, ties to the smallest', () => {
  expect(majorityDigest([B, A, B])).toBe(B);
  expect(majorityDigest([B, A])).toBe(A);
  expect(majorityDigest([])).toBeUndefined();
});

test('rows sort at-risk first, then gone, unknown, present', () => {
  const r = (image: string, registry: ScanRow['registry'], atRisk = false): ScanRow => ({
    image,
    digest: null,
    registry,
    holders: [],
    pods: [],
    podCount: 0,
    atRisk,
    action: 'none',
  });
  const sorted = [r('a', 'present'), r('b', 'unknown'), r('c', 'gone'), r('d', 'gone', true)].sort(
    compareRows,
  );
  expect(sorted.map((x) => x.image)).toEqual(['d', 'c', 'b', 'a']);
});

test('manual scan ids are sortable by start time and valid workflow ids', () => {
  expect(scanWorkflowId(new Date('2026-11-25T12:00:00.123Z'), 'ab12')).toBe('scan/20261125T120000123Z-ab12');
});

test('Node.status.images names are compared normalised, as the controller compares them', () => {
  // Docker reports short names; the scan asks with the canonical name.
  expect(digestFromNodeImages(['nginx:1.25', `nginx@${A}`], 'docker.io/library/nginx', '1.25')).toBe(A);
  expect(
    digestFromNodeImages(['docker.io/library/nginx:1.25', `nginx@${A}`], 'docker.io/library/nginx', '1.25'),
  ).toBe(A);
});
