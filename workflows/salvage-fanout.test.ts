import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { ToteActivities } from '../activities/index.js';
import type { TransferInput } from '../activities/transfer.js';
import type { SourceInventory, TransferResult } from '../activities/types.js';
import { captureSdkLogs, maybeRecordHistory } from '../test/replay/env.js';
import { DIGEST, inventory, type CallLog } from '../test/replay/stubs.js';
import { workflowTestKit } from '../test/replay/workflow-kit.js';
import { salvageImage } from './index.js';
import { salvageStartOptions } from './start-options.js';
import type { SalvageResult } from './types.js';

const kit = workflowTestKit();

/** Runs one salvage on a fresh task queue and node; resolves with its result or its failure. */
async function run(
  name: string,
  over: Partial<ToteActivities>,
): Promise<{ log: CallLog; result?: SalvageResult; error?: unknown }> {
  const input = {
    digest: DIGEST,
    imageRef: 'registry.gone/app:1.0',
    node: `target-${randomUUID().slice(0, 8)}`,
    pod: { namespace: 'shop', name: 'web-1', uid: 'uid-1' },
    container: 'web',
    reason: 'ImagePullBackOff' as const,
  };
  const { out, log } = await kit.withWorker(
    over,
    async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(salvageImage, salvageStartOptions(input, taskQueue));
      try {
        return { handle, result: await handle.result() };
      } catch (error) {
        return { handle, error };
      }
    },
    `test-${name}`,
  );
  const { handle, ...outcome } = out;
  await maybeRecordHistory(name, { address: kit.env.address, workflowId: handle.workflowId });
  return { log, ...outcome };
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
    const { out: s } = await captureSdkLogs(() =>
      run('fanout-relocate', {
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
      }),
    );
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
    const { out: s } = await captureSdkLogs(() =>
      run('fanout-no-server', { locateSources: async () => closed }),
    );
    expect(s.error).toBeInstanceOf(WorkflowFailedError);
    const cause = (s.error as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('NoSourceNode');
    expect(cause.message).toContain('--max-concurrent-exports 0');
    expect(s.log.names()).not.toContain('transferImage');
  });
});
