import { DIGEST, inventory } from '../test/replay/stubs.js';
import {
  failedPreconditions,
  firstFailedPrecondition,
  SALVAGE_PRECONDITIONS,
  VALID_DIGEST,
  type SalvageFacts,
} from './preconditions.js';

const facts = (over: Partial<SalvageFacts> = {}): SalvageFacts => ({
  digest: DIGEST,
  node: 'target',
  inventory: inventory(['node-a']),
  maxImageSizeBytes: 0,
  ...over,
});

test('the list is in the order the real run checks it', () => {
  expect(SALVAGE_PRECONDITIONS.map((p) => p.type)).toEqual([
    'InvalidImageReference',
    'NoSourceNode',
    'ImageTooLarge',
    'NoTargetAgent',
  ]);
});

test('given a salvageable image, none fails', () => {
  expect(failedPreconditions(facts())).toEqual([]);
  expect(firstFailedPrecondition(facts())).toBeUndefined();
});

test('given everything wrong, all fail in order and the first is the one thrown', () => {
  const f = facts({
    digest: `sha256:${'AB'.repeat(32)}`,
    inventory: inventory([], { targetEndpoint: undefined }),
  });
  expect(failedPreconditions(f).map((p) => p.type)).toEqual([
    'InvalidImageReference',
    'NoSourceNode',
    'NoTargetAgent',
  ]);
  expect(firstFailedPrecondition(f)).toEqual({
    type: 'InvalidImageReference',
    message: `invalid digest "sha256:${'AB'.repeat(32)}": not sha256: followed by 64 lowercase hex characters`,
  });
});

test.each(['', 'sha256:abc', `sha512:${'a'.repeat(128)}`, `${DIGEST} `, DIGEST.replace('sha256', 'SHA256')])(
  'given the digest %j, the digest precondition fails',
  (digest) => {
    expect(VALID_DIGEST.holds({ digest })).toBe(false);
    expect(firstFailedPrecondition(facts({ digest }))?.type).toBe('InvalidImageReference');
  },
);

test('given a size limit, the exact size wins over the largest source report', () => {
  const inv = inventory(['node-a', 'node-b']);
  expect(failedPreconditions(facts({ inventory: inv, maxImageSizeBytes: 1000 }))).toEqual([]);
  expect(failedPreconditions(facts({ inventory: inv, maxImageSizeBytes: 999 }))).toEqual([
    { type: 'ImageTooLarge', message: 'image is 1000 bytes, over the limit of 999 bytes (--max-image-size)' },
  ]);
  expect(failedPreconditions(facts({ inventory: inv, maxImageSizeBytes: 1000, imageBytes: 1001 }))).toEqual([
    {
      type: 'ImageTooLarge',
      message: 'image is 1001 bytes, over the limit of 1000 bytes (--max-image-size)',
    },
  ]);
});

test('given a target that already holds the image, only the digest matters', () => {
  const inv = inventory([], { targetHasImage: true, targetEndpoint: undefined });
  expect(failedPreconditions(facts({ inventory: inv, maxImageSizeBytes: 1 }))).toEqual([]);
  expect(failedPreconditions(facts({ inventory: inv, digest: 'x' })).map((p) => p.type)).toEqual([
    'InvalidImageReference',
  ]);
});
