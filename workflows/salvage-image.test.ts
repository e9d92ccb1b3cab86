import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import {
  WorkflowFailedError,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import type { ToteActivities } from '../activities/index.js';
import { captureSdkLogs, maybeRecordHistory, type SdkLogEntry } from '../test/replay/env.js';
import { DIGEST, inventory, policy, type CallLog } from '../test/replay/stubs.js';
import { workflowTestKit } from '../test/replay/workflow-kit.js';
import { TRANSFER_UNAVAILABLE_ATTEMPTS } from './activity-options.js';
import { approveSignal, progressQuery, rejectSignal, salvageImage } from './index.js';
import { SA } from './search-attributes.js';
import { salvageStartOptions } from './start-options.js';
import type { SalvageInput, SalvageResult } from './types.js';

const kit = workflowTestKit();

function input(): SalvageInput {
  // A unique node per test keeps workflow ids unique, so tests never join each other's runs.
  return {
    digest: DIGEST,
    imageRef: 'registry.gone/app:1.0',
    node: `target-${randomUUID().slice(0, 8)}`,
    pod: { namespace: 'shop', name: 'web-1', uid: 'uid-1' },
    container: 'web',
    reason: 'ImagePullBackOff',
  };
}

interface Scenario {
  input: SalvageInput;
  acts: ToteActivities;
  log: CallLog;
  handle: WorkflowHandleWithFirstExecutionRunId<typeof salvageImage>;
}

/** Runs one salvage on a fresh task queue; `during` runs while the worker runs (signals, queries). */
async function run(
  name: string,
  over: Partial<ToteActivities>,
  during?: (s: Scenario) => Promise<void>,
): Promise<Scenario & { result?: SalvageResult; error?: unknown }> {
  const wfInput = input();
  const { out } = await kit.withWorker(
    over,
    async (taskQueue, { acts, log }) => {
      const handle = await kit.env.client.workflow.start(
        salvageImage,
        salvageStartOptions(wfInput, taskQueue),
      );
      const s: Scenario = { input: wfInput, acts, log, handle };
      await during?.(s);
      try {
        return { ...s, result: await handle.result() };
      } catch (error) {
        return { ...s, error };
      }
    },
    `test-${name}`,
  );
  await maybeRecordHistory(name, { address: kit.env.address, workflowId: out.handle.workflowId });
  return out;
}

async function phaseOf(handle: WorkflowHandle): Promise<unknown> {
  return (await handle.describe()).typedSearchAttributes.get(SA.SalvagePhase);
}

/** Waits (by polling the query, no timing assertion) until the workflow reports `phase`. */
async function untilPhase(handle: WorkflowHandle<typeof salvageImage>, phase: string): Promise<void> {
  for (;;) {
    const p = await handle.query(progressQuery);
    if (p.phase === phase) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The messages of the WARN lines the workflow itself logged (`log.warn` in workflow code). */
function workflowWarnings(logs: SdkLogEntry[]): string[] {
  return logs
    .filter((l) => l.level === 'WARN' && l.meta?.sdkComponent === 'workflow')
    .map((l) => `${l.message} ${String(l.meta?.source)}`);
}

/** The root cause of a failed workflow. */
function rootCause(err: unknown): ApplicationFailure {
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('salvageImage', () => {
  test('given sources in auto mode, should transfer, verify, record, restart, notify in order', async () => {
    const s = await run('auto-happy', {});
    expect(s.result?.outcome).toBe('salvaged');
    expect(s.result?.source).toBe('node-a');
    expect(s.result?.podRestarted).toBe(true);
    expect(s.log.events()).toEqual(['ImageSalvageable', 'ImageSalvaged']);
    expect(s.log.webhooks()).toEqual(['detected', 'salvaged']);
    const order = s.log.names().filter((n) => !['emitEvent', 'sendWebhook'].includes(n));
    // The three reads start together in the first workflow task (fast start); the rest is sequential.
    expect(order.slice(0, 3).sort()).toEqual(['checkOptIn', 'loadPolicy', 'locateSources']);
    expect(order.slice(3)).toEqual(['transferImage', 'verifyImage', 'writeSalvageRecord', 'deleteOwnedPod']);
    const desc = await s.handle.describe();
    expect(await desc.staticSummary()).toContain('Salvage registry.gone/app:1.0 onto target-');
    expect(await phaseOf(s.handle)).toBe('Completed');
    expect(desc.typedSearchAttributes.get(SA.ImageDigest)).toBe(DIGEST);
    const detection = s.log.calls.find((c) => c.name === 'emitEvent')?.arg as { workflowId: string };
    expect(detection.workflowId).toBe(s.handle.workflowId);
  });

  test('given a transfer that ends before any progress signal, the final progress should carry its counts', async () => {
    const s = await run('final-progress', {});
    expect(s.result?.outcome).toBe('salvaged');
    const p = s.result?.progress;
    expect(p?.phase).toBe('Completed');
    expect(p?.bytesTotal).toBeGreaterThan(0);
    expect(p?.bytesDone).toBe(p?.bytesTotal);
    expect(p?.blobsCommitted).toBe(p?.blobsTotal);
    expect(p?.blobsTotal).toBeGreaterThan(0);
  });

  test('given a second start for the same digest and node, should join the running workflow', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await run('join', { checkOptIn: async () => gate }, async ({ handle, input: same }) => {
      const again = await kit.env.client.workflow.start(
        salvageImage,
        salvageStartOptions(same, 'other-queue'),
      );
      expect(again.workflowId).toBe(handle.workflowId);
      expect(again.firstExecutionRunId).toBe(handle.firstExecutionRunId);
      release();
    });
  });

  test('given no node with a complete copy, should fail NoSourceNode after a Warning', async () => {
    const { out: s } = await captureSdkLogs(() =>
      run('no-source', { locateSources: async () => inventory([]) }),
    );
    expect(rootCause(s.error).type).toBe('NoSourceNode');
    expect(rootCause(s.error).nonRetryable).toBe(true);
    expect(s.log.events()).toEqual(['ImageResolvedUncached', 'ImageSalvageFailed']);
    expect(s.log.webhooks()).toEqual(['detected', 'salvage_failed']);
    expect(s.log.names()).not.toContain('transferImage');
    expect(await phaseOf(s.handle)).toBe('Failed');
  });

  test('given an image over the size limit, should fail ImageTooLarge without transferring', async () => {
    const { out: s } = await captureSdkLogs(() =>
      run('too-large', { loadPolicy: async () => policy({ maxImageSizeBytes: 999 }) }),
    );
    expect(rootCause(s.error).type).toBe('ImageTooLarge');
    expect(s.log.names()).not.toContain('transferImage');
  });

  test('given the first source fails, should salvage from the second', async () => {
    const { out: s, logs } = await captureSdkLogs(() =>
      run('fallback', {
        transferImage: async (i) => {
          if (i.source.node === 'node-a')
            throw ApplicationFailure.retryable('connection reset', 'TransientError');
          return {
            source: i.source.node,
            bytesDone: 9,
            bytesTotal: 9,
            blobsCommitted: 1,
            blobsTotal: 1,
            blobsSkipped: 0,
            attempt: 1,
            durationMs: 1,
          };
        },
      }),
    );
    expect(s.result?.outcome).toBe('salvaged');
    expect(s.result?.source).toBe('node-b');
    expect(s.result?.progress.sourcesTried).toEqual(['node-a', 'node-b']);
    expect(s.result?.progress.attempts).toBe(2);
    // node-a is retried as often as production retries it before the fallback (only sooner in these tests).
    expect(s.log.names().filter((n) => n === 'transferImage')).toHaveLength(
      TRANSFER_UNAVAILABLE_ATTEMPTS + 1,
    );
    expect(workflowWarnings(logs)).toEqual(['source failed, trying the next one node-a']);
  });

  test('given every source fails, should fail AllSourcesFailed naming each source', async () => {
    const { out: s, logs } = await captureSdkLogs(() =>
      run('all-fail', {
        transferImage: async (i) => {
          throw ApplicationFailure.retryable(`${i.source.node} unreachable`, 'TransientError');
        },
      }),
    );
    const cause = rootCause(s.error);
    expect(cause.type).toBe('AllSourcesFailed');
    expect(cause.message).toContain('node-a');
    expect(cause.message).toContain('node-b');
    expect(s.log.names().filter((n) => n === 'transferImage')).toHaveLength(
      2 * TRANSFER_UNAVAILABLE_ATTEMPTS,
    );
    expect(workflowWarnings(logs)).toEqual([
      'source failed, trying the next one node-a',
      'source failed, trying the next one node-b',
    ]);
  });

  test('given the backup push fails, should still succeed and report push_failed', async () => {
    const { out: s } = await captureSdkLogs(() =>
      run('push-fails', {
        loadPolicy: async () => policy({ backup: true }),
        pushBackup: async () => {
          throw ApplicationFailure.nonRetryable('registry refused', 'KubeHttp403');
        },
      }),
    );
    expect(s.result?.outcome).toBe('salvaged');
    expect(s.result?.pushedTo).toBeUndefined();
    expect(s.log.events()).toEqual(['ImageSalvageable', 'ImageSalvaged', 'ImagePushFailed']);
    expect(s.log.webhooks()).toEqual(['detected', 'push_failed', 'salvaged']);
  });

  test('given a backup registry, should push and report pushed', async () => {
    const s = await run('push-ok', { loadPolicy: async () => policy({ backup: true }) });
    expect(s.result?.pushedTo).toBe('backup.local/app:1');
    expect(s.log.events()).toEqual(['ImageSalvageable', 'ImageSalvaged', 'ImagePushed']);
  });

  test('given approve mode, should wait for the approve signal, then salvage', async () => {
    const s = await run(
      'approve',
      { loadPolicy: async () => policy({ mode: 'approve' }) },
      async ({ handle, log }) => {
        await untilPhase(handle, 'AwaitingApproval');
        expect(log.names()).not.toContain('transferImage');
        await handle.signal(approveSignal, { by: 'alice' });
      },
    );
    expect(s.result?.outcome).toBe('salvaged');
    expect(s.log.names().filter((n) => n === 'locateSources')).toHaveLength(2);
    // Opt-in is asked at the start and again after the approval (which may come hours later).
    expect(s.log.names().filter((n) => n === 'checkOptIn')).toHaveLength(2);
  });

  test('given approve mode and no decision, should time out into a Warning event', async () => {
    const s = await run('approve-timeout', {
      loadPolicy: async () => policy({ mode: 'approve', approveTimeoutMs: 500 }),
    });
    expect(s.result?.outcome).toBe('approval-timed-out');
    expect(s.log.events()).toEqual(['ImageSalvageable', 'ImageSalvageFailed']);
    expect(s.log.names()).not.toContain('transferImage');
    expect(await phaseOf(s.handle)).toBe('ApprovalTimedOut');
  });

  test('given approve mode and a reject signal, should stop without acting', async () => {
    const s = await run(
      'reject',
      { loadPolicy: async () => policy({ mode: 'approve' }) },
      async ({ handle }) => {
        await untilPhase(handle, 'AwaitingApproval');
        await handle.signal(rejectSignal, { by: 'bob', note: 'not now' });
      },
    );
    expect(s.result?.outcome).toBe('rejected');
    expect(s.result?.progress.error).toContain('bob');
    expect(s.log.names()).not.toContain('transferImage');
  });

  test('given opt-in withdrawn, should stop before any transfer', async () => {
    const { out: s } = await captureSdkLogs(() =>
      run('opt-in-withdrawn', {
        checkOptIn: async () => {
          throw ApplicationFailure.nonRetryable('namespace no longer allows tote', 'OptInWithdrawn');
        },
      }),
    );
    expect(s.result?.outcome).toBe('opt-in-withdrawn');
    expect(s.log.names()).not.toContain('transferImage');
    expect(await phaseOf(s.handle)).toBe('OptInWithdrawn');
  });

  test('given detect-only mode, should report the detection and stop', async () => {
    const s = await run('detect-only', { loadPolicy: async () => policy({ mode: 'detect-only' }) });
    expect(s.result?.outcome).toBe('detected');
    expect(s.log.events()).toEqual(['ImageSalvageable']);
    expect(s.log.webhooks()).toEqual(['detected']);
    expect(s.log.names()).not.toContain('transferImage');
    expect(s.log.names()).not.toContain('deleteOwnedPod');
  });

  test('given the target already holds the image, should only restart the pod', async () => {
    const s = await run('already-present', {
      locateSources: async () => inventory([], { targetHasImage: true }),
    });
    expect(s.result?.outcome).toBe('already-present');
    expect(s.log.names()).not.toContain('transferImage');
  });

  test('given the transfer reports progress, should expose it through the progress query', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await run(
      'progress',
      {
        transferImage: async (i) => {
          await gate;
          return {
            source: i.source.node,
            bytesDone: 7,
            bytesTotal: 7,
            blobsCommitted: 1,
            blobsTotal: 1,
            blobsSkipped: 0,
            attempt: 1,
            durationMs: 1,
          };
        },
      },
      async ({ handle }) => {
        await untilPhase(handle, 'Transferring');
        await handle.signal('transferProgress', {
          source: 'node-a',
          bytesDone: 3,
          bytesTotal: 7,
          blobsCommitted: 0,
          blobsTotal: 1,
          blobsSkipped: 0,
          attempt: 1,
        });
        let p = await handle.query(progressQuery);
        while (p.bytesDone !== 3) p = await handle.query(progressQuery);
        expect(p).toMatchObject({ phase: 'Transferring', source: 'node-a', bytesTotal: 7, attempts: 1 });
        release();
      },
    );
    expect(s.result?.outcome).toBe('salvaged');
  });

  test('given a bookkeeping activity fails for good, should report and fail with the cause chain', async () => {
    const { out: s } = await captureSdkLogs(() =>
      run('record-fails', {
        writeSalvageRecord: async () => {
          throw ApplicationFailure.nonRetryable('forbidden', 'KubeHttp403');
        },
      }),
    );
    const err = s.error as WorkflowFailedError;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err.cause?.cause as ApplicationFailure).type).toBe('KubeHttp403');
    expect(s.log.events()).toEqual(['ImageSalvageable', 'ImageSalvageFailed']);
  });
});
