import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { isRetryable, NON_RETRYABLE_TYPES } from '../common/failures.js';
import * as options from '../workflows/activity-options.js';
import {
  agentUnavailable,
  holdersUnreachable,
  imageTooLarge,
  invalidImageReference,
  mapFailures,
  noSourceNode,
  optInWithdrawn,
  sourceIncomplete,
  toFailure,
} from './failures.js';

const http = (code: number): Error =>
  Object.assign(new Error(`HTTP-Code: ${code}`), { code, body: '{}', headers: {} });
const grpc = (code: number): Error =>
  Object.assign(new Error(`${code} grpc`), { code, details: 'x', metadata: {} });

describe('toFailure', () => {
  test.each([
    [404, 'KubeHttp404', true],
    [403, 'KubeHttp403', true],
    [422, 'KubeHttp422', true],
    [409, 'KubeHttp409', false],
    [429, 'KubeHttp429', false],
    [500, 'KubeHttp500', false],
    [503, 'KubeHttp503', false],
  ])('given an apiserver %i, should be %s (non-retryable: %s)', (code, type, nonRetryable) => {
    const f = toFailure(http(code), 'read pod') as ApplicationFailure;
    expect(f.type).toBe(type);
    expect(f.nonRetryable).toBe(nonRetryable);
    expect(f.message).toContain('read pod');
  });

  test.each([
    [3, 'InvalidImageReference', true],
    [7, 'AgentGrpc7', true],
    [16, 'AgentGrpc16', true],
    [5, 'AgentGrpc5', false],
    [14, 'AgentGrpc14', false],
    [4, 'AgentGrpc4', false],
  ])('given an agent gRPC status %i, should be %s (non-retryable: %s)', (code, type, nonRetryable) => {
    const f = toFailure(grpc(code), 'import') as ApplicationFailure;
    expect(f.type).toBe(type);
    expect(f.nonRetryable).toBe(nonRetryable);
  });

  test('given a typed failure or a cancellation, should pass it through unchanged', () => {
    const typed = ApplicationFailure.nonRetryable('x', 'NoSourceNode');
    const cancelled = new CancelledFailure('CANCELLED');
    expect(toFailure(typed, 'w')).toBe(typed);
    expect(toFailure(cancelled, 'w')).toBe(cancelled);
  });

  test('given an unknown error, should stay retryable and keep the cause', () => {
    const cause = new Error('socket hang up');
    const f = toFailure(cause, 'webhook') as ApplicationFailure;
    expect(f.type).toBe('TransientError');
    expect(f.nonRetryable).toBe(false);
    expect(f.cause).toBe(cause);
  });

  test('typed failures should be non-retryable exactly as common/failures.ts says', () => {
    const made = [
      imageTooLarge(2, 1),
      noSourceNode('sha256:ab'),
      optInWithdrawn('gone'),
      invalidImageReference('x', 'why'),
      sourceIncomplete('node-a'),
      agentUnavailable('node-a'),
      holdersUnreachable('sha256:ab', ['node-a']),
      toFailure(new Error('socket hang up'), 'w') as ApplicationFailure,
    ];
    for (const f of made) {
      expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({
        type: f.type,
        nonRetryable: !isRetryable(f.type as Parameters<typeof isRetryable>[0]),
      });
    }
    expect(made.filter((f) => f.nonRetryable).map((f) => f.type)).toEqual([...NON_RETRYABLE_TYPES]);
  });

  test("the workflows' retry policies stop at once on the non-retryable types of common/failures.ts", () => {
    const policies = [
      options.KUBE,
      options.INVENTORY,
      options.AGENT_CALL,
      options.transferOptions(3),
      options.PUSH,
      options.REAP,
      options.AGENT_OP,
    ];
    for (const p of policies) expect(p.retry?.nonRetryableErrorTypes).toEqual([...NON_RETRYABLE_TYPES]);
  });
});

describe('mapFailures', () => {
  test('given an abort after the activity was cancelled, should report a cancellation', async () => {
    const env = new MockActivityEnvironment();
    env.cancel();
    const err = await env
      .run(() => mapFailures('list nodes', () => Promise.reject(new Error('aborted'))))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
  });
});
