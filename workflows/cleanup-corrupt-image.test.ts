import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { ToteActivities } from '../activities/index.js';
import { captureSdkLogs, maybeRecordHistory } from '../test/replay/env.js';
import { DIGEST, type CallLog } from '../test/replay/stubs.js';
import { workflowTestKit } from '../test/replay/workflow-kit.js';
import { cleanupCorruptImage, reapSalvageRecords, type CleanupResult } from './index.js';
import { SA } from './search-attributes.js';
import { cleanupStartOptions } from './start-options.js';

const kit = workflowTestKit();

async function cleanup(
  name: string,
  over: Partial<ToteActivities>,
): Promise<{ result: CleanupResult; log: CallLog; phase: unknown }> {
  const input = {
    digest: DIGEST,
    imageRef: 'registry.gone/app:1',
    node: `n-${randomUUID().slice(0, 8)}`,
    pod: { namespace: 'shop', name: 'web-1' },
    message: 'failed to create containerd container: layer not found',
  };
  const { out, log } = await kit.withWorker(over, async (taskQueue) => {
    const handle = await kit.env.client.workflow.start(
      cleanupCorruptImage,
      cleanupStartOptions(input, taskQueue),
    );
    const result = await handle.result();
    await maybeRecordHistory(name, { address: kit.env.address, workflowId: handle.workflowId });
    return { result, phase: (await handle.describe()).typedSearchAttributes.get(SA.SalvagePhase) };
  });
  return { ...out, log };
}

describe('cleanupCorruptImage', () => {
  test('given a corrupt image, should warn, remove the record on the node and restart the pod', async () => {
    const { result, log, phase } = await cleanup('cleanup', {});
    expect(result).toEqual({ outcome: 'cleaned', removed: true, podRestarted: true });
    expect(log.names()).toEqual(['checkOptIn', 'emitEvent', 'removeImageRecord', 'deleteOwnedPod']);
    expect(log.events()).toEqual(['ImageCorrupt']);
    expect(phase).toBe('Completed');
  });

  test('given opt-in withdrawn, should touch nothing', async () => {
    const {
      out: { result, log },
    } = await captureSdkLogs(() =>
      cleanup('cleanup-opt-in-withdrawn', {
        checkOptIn: async () => {
          throw ApplicationFailure.nonRetryable('gone', 'OptInWithdrawn');
        },
      }),
    );
    expect(result.outcome).toBe('opt-in-withdrawn');
    expect(log.names()).toEqual(['checkOptIn']);
  });
});

describe('reapSalvageRecords', () => {
  test('given a TTL, should pass it to the reaper activity and return its counts', async () => {
    const { out, log } = await kit.withWorker(
      { reapExpiredRecords: async () => ({ deleted: 2, kept: 5 }) },
      async (taskQueue) => {
        const handle = await kit.env.client.workflow.start(reapSalvageRecords, {
          taskQueue,
          workflowId: `reap-${randomUUID()}`,
          args: [{ ttlSeconds: 60 }],
        });
        const result = await handle.result();
        await maybeRecordHistory('reap', { address: kit.env.address, workflowId: handle.workflowId });
        return result;
      },
    );
    expect(out).toEqual({ deleted: 2, kept: 5 });
    expect(log.calls).toEqual([{ name: 'reapExpiredRecords', arg: { ttlSeconds: 60 } }]);
  });
});
