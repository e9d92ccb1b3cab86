import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import type { ToteActivities } from '../activities/index.js';
import type { TransferInput } from '../activities/transfer.js';
import type { SourceInventory, TransferResult } from '../activities/types.js';
import { bundleWorkflows, maybeRecordHistory, startTestEnv } from '../test/replay/env.js';
import { DIGEST, inventory, stubActivities, type CallLog } from '../test/replay/stubs.js';
import { salvageImage } from './index.js';
import { salvageStartOptions } from './start-options.js';
import type { SalvageResult } from './types.js';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;

beforeAll(async () => {
  [env, bundle] = await Promise.all([startTestEnv(), bundleWorkflows()]);
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

/** Runs one salvage on a fresh task queue and node; resolves with its result or its failure. */
async function run(
  name: string,
  over: Partial<ToteActivities>,
): Promise<{ log: CallLog; result?: SalvageResult; error?: unknown }> {
  const { acts, log } = stubActivities(over);
  const taskQueue = `test-${name}-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: acts,
  });
  const input = {
    digest: DIGEST,
    imageRef: 'registry.gone/app:1.0',
    node: `target-${randomUUID().slice(0, 8)}`,
    pod: { namespace: 'shop', name: 'web-1', uid: 'uid-1' },
    container: 'web',
    reason: 'ImagePullBackOff' as const,
  };
  const handle = await env.client.workflow.start(salvageImage, salvageStartOptions(input, taskQueue));
  const out = await worker.runUntil(async () => {
    try {
      return { log, result: await handle.result() };
    } catch (error) {
      return { log, error };
    }
  });
  await maybeRecordHistory(name, { address: env.address, workflowId: handle.workflowId });
  return out;
}

function transferred(source: string): TransferResult {
  return {
    source,
    bytesDone: 1000,
    bytesTotal: 1000,
    blobsCommitted: 3,
    blobsTotal: 3,
    blobsSkipped: 0,
    attempt: 1,
    durationMs: 5,
  };
}

function inputs(log: CallLog, name: string): unknown[] {
  return log.calls.filter((c) => c.name === name).map((c) => c.arg);
}

describe('salvageImage fan-out', () => {
  test('given several holders, should hand the transfer all of them least busy first and record the one it used', async () => {
    const busy: SourceInventory = inventory(['node-a', 'node-b', 'node-c']);
    busy.sources = busy.sources.map((s, i) => ({ ...s, activeExports: [2, 0, 1][i] }));
    const s = await run('fanout-least-busy', {
      locateSources: async () => busy,
      // The activity found node-b at its cap when it ran and took node-c.
      transferImage: async () => transferred('node-c'),
    });
    const [t] = inputs(s.log, 'transferImage') as TransferInput[];
    expect(t?.source.node).toBe('node-b');
    expect(t?.candidates?.map((c) => c.node)).toEqual(['node-b', 'node-c', 'node-a']);
    expect(s.result).toMatchObject({ outcome: 'salvaged', source: 'node-c' });
    expect(s.result?.progress.sourcesTried).toEqual(['node-c']);
    const record = inputs(s.log, 'writeSalvageRecord')[0] as { sourceNode: string };
    expect(record.sourceNode).toBe('node-c');
  });

  test('given the holder the activity chose fails, should locate again and leave that holder out', async () => {
    let locates = 0;
    const s = await run('fanout-relocate', {
      // The second look finds node-c, which completed its own salvage in the meantime.
      locateSources: async () =>
        inventory(++locates === 1 ? ['node-a', 'node-b'] : ['node-a', 'node-b', 'node-c']),
      transferImage: async (i) => {
        if (i.candidates?.some((c) => c.node === 'node-b')) {
          // Non-retryable as transferImage makes a failure other than an absent agent once the policy's
          // attempts are used (activities/failures.ts limitRetries).
          throw ApplicationFailure.create({
            message: 'connection reset',
            type: 'TransientError',
            nonRetryable: true,
            details: [{ source: 'node-b' }],
          });
        }
        return transferred(i.source.node);
      },
    });
    expect(locates).toBe(2);
    const rounds = inputs(s.log, 'transferImage') as TransferInput[];
    expect(rounds.map((r) => r.candidates?.map((c) => c.node))).toEqual([
      ['node-a', 'node-b'],
      ['node-a', 'node-c'],
    ]);
    expect(s.result).toMatchObject({ outcome: 'salvaged', source: 'node-a' });
    expect(s.result?.progress.sourcesTried).toEqual(['node-b', 'node-a']);
  });

  test('given holders that never serve peers, should fail NoSourceNode without transferring', async () => {
    const closed = inventory(['node-a']);
    closed.sources = closed.sources.map((c) => ({ ...c, maxExports: 0 }));
    const s = await run('fanout-no-server', { locateSources: async () => closed });
    expect(s.error).toBeInstanceOf(WorkflowFailedError);
    const cause = (s.error as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('NoSourceNode');
    expect(cause.message).toContain('--max-concurrent-exports 0');
    expect(s.log.names()).not.toContain('transferImage');
  });
});
