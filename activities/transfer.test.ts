import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment as BaseEnv } from '@temporalio/testing';
import { DefaultLogger, type LogLevel } from '@temporalio/worker';
import { fakeAgent, fakeDeps, fakeKube } from './fake-deps.js';
import type { ImportProgress } from './deps.js';
import { createTransferActivities, type TransferInput } from './transfer.js';
import type { SourceCandidate, TransferProgress, TransferResult } from './types.js';

const DIGEST = `sha256:${'ef'.repeat(32)}`;
const input: TransferInput = {
  digest: DIGEST,
  imageNames: ['registry.gone/app:1'],
  source: { node: 'a', address: 'a:7443' },
  target: { node: 't', address: 't:7443' },
  maxImageSizeBytes: 0,
};
const plan = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  blobs: [
    { digest: DIGEST, size: 10 },
    { digest: DIGEST, size: 20 },
  ],
  totalBytes: 30,
  complete: true,
};
const step = (bytesDone: number, blobsCommitted: number): ImportProgress => ({
  bytesDone,
  bytesTotal: 30,
  blobsCommitted,
  blobsTotal: 2,
  blobsSkipped: 0,
});

/** A mock activity environment that keeps the SDK's failure logs out of the test output. */
class MockActivityEnvironment extends BaseEnv {
  constructor(info?: ConstructorParameters<typeof BaseEnv>[0], level: LogLevel = 'ERROR') {
    super(info, { logger: new DefaultLogger(level) });
  }
}

function heartbeats(env: MockActivityEnvironment): TransferProgress[] {
  const seen: TransferProgress[] = [];
  env.on('heartbeat', (d: TransferProgress) => seen.push(d));
  return seen;
}

describe('transferImage', () => {
  test('given a streaming import, should heartbeat each progress report and count bytes once', async () => {
    let prepared: { session: string; targetNode: string } | undefined;
    const deps = fakeDeps({
      agent: fakeAgent({
        prepareExport: async (_a, req) => ((prepared = req), plan),
        importFrom: async (_a, req, onProgress) => {
          expect(req.session).toBe(prepared?.session);
          expect(req.sources).toEqual([input.source]);
          onProgress(step(10, 1));
          onProgress(step(30, 2));
          return step(30, 2);
        },
      }),
    });
    const env = new MockActivityEnvironment();
    const seen = heartbeats(env);
    const r = (await env.run(createTransferActivities(deps).transferImage, input)) as TransferResult;
    expect(prepared?.targetNode).toBe('t');
    expect(prepared?.session).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(seen.map((h) => h.bytesDone)).toEqual([0, 10, 30, 30]);
    expect(seen.at(-1)).toMatchObject({ source: 'a', blobsCommitted: 2, blobsTotal: 2, attempt: 1 });
    expect(r).toMatchObject({ bytesDone: 30, bytesTotal: 30, source: 'a' });
    expect(deps.metrics.transferBytes).toBe(30);
    expect(deps.metrics.count('salvage_attempts')).toBe(1);
  });

  test('given a retried attempt with heartbeat details, should start from them and count only new bytes', async () => {
    const deps = fakeDeps({
      agent: fakeAgent({ prepareExport: async () => plan, importFrom: async () => step(30, 2) }),
    });
    const prev: TransferProgress = { source: 'a', ...step(10, 1), attempt: 1 };
    const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: prev });
    const seen = heartbeats(env);
    const r = (await env.run(createTransferActivities(deps).transferImage, input)) as TransferResult;
    expect(seen[0]).toMatchObject({ bytesDone: 10, blobsCommitted: 1, attempt: 2 });
    expect(r.attempt).toBe(2);
    expect(deps.metrics.transferBytes).toBe(20);
  });

  test('given an image over the limit, should fail ImageTooLarge before importing', async () => {
    const deps = fakeDeps({ agent: fakeAgent({ prepareExport: async () => plan }) });
    const err = await new MockActivityEnvironment()
      .run(createTransferActivities(deps).transferImage, { ...input, maxImageSizeBytes: 29 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('ImageTooLarge');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
  });

  test('given a source with an incomplete copy, should fail non-retryably so the next source is tried', async () => {
    const deps = fakeDeps({
      agent: fakeAgent({ prepareExport: async () => ({ ...plan, complete: false }) }),
    });
    const err = (await new MockActivityEnvironment()
      .run(createTransferActivities(deps).transferImage, input)
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('SourceIncomplete');
    expect(err.nonRetryable).toBe(true);
  });

  test('given a cancellation mid-import, should abort the agent call and report a cancellation', async () => {
    let aborted = false;
    const env = new MockActivityEnvironment();
    const deps = fakeDeps({
      agent: fakeAgent({
        prepareExport: async () => plan,
        importFrom: (_a, _r, onProgress, opts) =>
          new Promise((_, reject) => {
            const abort = (): void => {
              aborted = true;
              reject(new Error('The operation was aborted'));
            };
            if (opts?.signal?.aborted) abort();
            opts?.signal?.addEventListener('abort', abort);
            onProgress(step(10, 1));
          }),
      }),
    });
    env.on('heartbeat', () => env.cancel());
    const err = await env.run(createTransferActivities(deps).transferImage, input).catch((e: unknown) => e);
    expect(aborted).toBe(true);
    expect(err).toBeInstanceOf(CancelledFailure);
  });

  test('given a gRPC UNAVAILABLE from the target, should fail retryably with the cause kept', async () => {
    const grpcErr = Object.assign(new Error('14 UNAVAILABLE: connection refused'), {
      code: 14,
      details: 'connection refused',
      metadata: {},
    });
    const deps = fakeDeps({
      agent: fakeAgent({ prepareExport: async () => plan, importFrom: async () => Promise.reject(grpcErr) }),
    });
    const err = (await new MockActivityEnvironment()
      .run(createTransferActivities(deps).transferImage, input)
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('AgentGrpc14');
    expect(err.nonRetryable).toBe(false);
    expect(err.cause).toBe(grpcErr);
  });
});

describe('verifyImage', () => {
  test('given a present but incomplete image, should report it incomplete', async () => {
    const deps = fakeDeps({
      agent: fakeAgent({ hasImage: async () => ({ present: true, complete: false, sizeBytes: 5 }) }),
    });
    const r = await new MockActivityEnvironment().run(createTransferActivities(deps).verifyImage, {
      digest: DIGEST,
      target: input.target,
    });
    expect(r).toEqual({ complete: false, sizeBytes: 5 });
  });
});

describe('transferImage with candidates (fan-out)', () => {
  const holder = (node: string, activeExports = 0): SourceCandidate => ({
    node,
    endpoint: `${node}:7443`,
    complete: true,
    sizeBytes: 30,
    hinted: false,
    activeExports,
  });
  const grpc = (code: number, details: string): Error =>
    Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });

  test('given the least busy holder refuses as busy, should move to the next one and report it', async () => {
    const asked: string[] = [];
    const deps = fakeDeps({
      agent: fakeAgent({
        prepareExport: async () => plan,
        importFrom: async (_a, req) => {
          const from = req.sources[0]?.node ?? '';
          asked.push(from);
          if (from === 'b') throw grpc(8, 'source busy: 2 exports in progress (--max-concurrent-exports)');
          return step(30, 2);
        },
      }),
    });
    const fanOut = {
      ...input,
      source: { node: 'b', address: 'b:7443' },
      candidates: [holder('b'), holder('a', 1)],
    };
    const r = (await new MockActivityEnvironment().run(
      createTransferActivities(deps).transferImage,
      fanOut,
    )) as TransferResult;
    expect(asked).toEqual(['b', 'a']);
    expect(r).toMatchObject({ source: 'a', bytesDone: 30 });
  });

  test('given the chosen holder fails otherwise, should fail naming it in the details', async () => {
    const deps = fakeDeps({
      agent: fakeAgent({
        prepareExport: async () => plan,
        importFrom: async () => Promise.reject(grpc(14, 'connection refused')),
      }),
    });
    const fanOut = { ...input, candidates: [holder('a', 2), holder('b')] };
    const err = (await new MockActivityEnvironment()
      .run(createTransferActivities(deps).transferImage, fanOut)
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('AgentGrpc14');
    expect(err.nonRetryable).toBe(false);
    expect(err.details).toEqual([{ source: 'b' }]);
  });

  test.each([
    ['serves peers', 4, ['a', 't']],
    ['never serves peers (--max-concurrent-exports 0)', 0, ['a', 'a']],
  ])(
    'given a completed transfer to a target that %s, should make it a source for the next one only if it serves',
    async (_what, maxExports, expected) => {
      const used: string[] = [];
      const deps = fakeDeps({
        agent: fakeAgent({
          prepareExport: async () => plan,
          importFrom: async (_a, req) => (used.push(req.sources[0]?.node ?? ''), step(30, 2)),
          hasImage: async () => ({
            present: true,
            complete: true,
            sizeBytes: 30,
            activeExports: 0,
            maxExports,
          }),
        }),
      });
      const acts = createTransferActivities(deps);
      await new MockActivityEnvironment().run(acts.transferImage, { ...input, candidates: [holder('a', 3)] });
      const next = { ...input, target: { node: 'u', address: 'u:7443' }, candidates: [holder('a', 3)] };
      await new MockActivityEnvironment().run(acts.transferImage, next);
      expect(used).toEqual(expected);
    },
  );

  test('given a retried attempt, should ask the inventory again instead of trusting the old candidates', async () => {
    const deps = fakeDeps({
      kube: fakeKube({ listNodes: async () => [{ name: 'c', imageNames: [], internalIP: '10.0.0.3' }] }),
      agent: fakeAgent({
        hasImage: async () => ({
          present: true,
          complete: true,
          sizeBytes: 30,
          activeExports: 0,
          maxExports: 4,
        }),
        prepareExport: async () => plan,
        importFrom: async (_a, req) => (expect(req.sources[0]?.node).toBe('c'), step(30, 2)),
      }),
    });
    const env = new MockActivityEnvironment({ attempt: 2 });
    const r = (await env.run(createTransferActivities(deps).transferImage, {
      ...input,
      candidates: [holder('a')],
    })) as TransferResult;
    expect(r.source).toBe('c');
  });

  test('given a retry where every known holder stopped answering, should fail retryably, not NoSourceNode', async () => {
    const deps = fakeDeps({
      kube: fakeKube({ listNodes: async () => [{ name: 'a', imageNames: [`registry.gone/app@${DIGEST}`] }] }),
      agent: fakeAgent({ hasImage: async () => Promise.reject(grpc(14, 'connection refused')) }),
    });
    const env = new MockActivityEnvironment({ attempt: 2 });
    const err = (await env
      .run(createTransferActivities(deps).transferImage, { ...input, candidates: [holder('a')], attempts: 1 })
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('HoldersUnreachable');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain('(a)');
  });
});

describe('transferImage retries (--transfer-attempts for broken sources, longer for absent agents)', () => {
  const grpc = (code: number, details: string): Error =>
    Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
  const failing = (err: Error) =>
    fakeDeps({
      agent: fakeAgent({ prepareExport: async () => plan, importFrom: async () => Promise.reject(err) }),
    });
  const run = async (err: Error, attempt: number): Promise<ApplicationFailure> =>
    (await new MockActivityEnvironment({ attempt })
      .run(createTransferActivities(failing(err)).transferImage, { ...input, attempts: 3 })
      .catch((e: unknown) => e)) as ApplicationFailure;

  test.each([
    ['UNAVAILABLE (agent restarting)', 14],
    ['RESOURCE_EXHAUSTED (busy)', 8],
    ['DEADLINE_EXCEEDED', 4],
  ])('given %s past the attempts of the policy, should stay retryable', async (_what, code) => {
    const err = await run(grpc(code, 'away'), 7);
    expect(err.type).toBe(`AgentGrpc${code}`);
    expect(err.nonRetryable).toBe(false);
  });

  test('given another retryable failure, should stay retryable until the attempts of the policy are used', async () => {
    const early = await run(grpc(15, 'DATA_LOSS: digest mismatch'), 2);
    expect(early).toMatchObject({ type: 'AgentGrpc15', nonRetryable: false });
    const last = await run(grpc(15, 'DATA_LOSS: digest mismatch'), 3);
    expect(last).toMatchObject({ type: 'AgentGrpc15', nonRetryable: true });
    expect(last.message).toContain('attempt 3 of 3');
  });

  test('given an input without attempts (recorded before them), should leave retries to the retry policy', async () => {
    const err = (await new MockActivityEnvironment({ attempt: 9 })
      .run(createTransferActivities(failing(grpc(15, 'DATA_LOSS'))).transferImage, input)
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.nonRetryable).toBe(false);
  });
});
