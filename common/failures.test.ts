import { FAILURE_TYPES, isRetryable, NON_RETRYABLE_TYPES, type FailureType } from './failures.js';

test('the non-retryable types are those of the table, in its order (the order the retry policies list them)', () => {
  expect(NON_RETRYABLE_TYPES).toEqual([
    'ImageTooLarge',
    'NoSourceNode',
    'OptInWithdrawn',
    'InvalidImageReference',
    'SourceIncomplete',
  ]);
});

test('isRetryable should read the table: an absent agent is retried, a missing source is not', () => {
  const retryable = (Object.keys(FAILURE_TYPES) as FailureType[]).filter(isRetryable);
  expect(retryable).toEqual(['AgentUnavailable', 'HoldersUnreachable', 'TransientError']);
  expect(isRetryable('NoSourceNode')).toBe(false);
});
