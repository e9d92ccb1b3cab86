/**
 * One Temporal setup for a workflow test file: a dev server and a workflow bundle started once per file, and a
 * worker with stub activities on a fresh task queue per test (so tests never pick up each other's tasks).
 * The bundle carries the fast-retries interceptor (activity retry intervals ÷100, everything else as in
 * production) and the server fires timers on time (`promptTimers`), except when recording histories: recorded
 * histories keep the production retry policies.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from '@jest/globals';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import type { ToteActivities } from '../../activities/index.js';
import { bundleWorkflows, recordingHistories, startTestEnv } from './env.js';
import { stubActivities, type CallLog } from './stubs.js';

/** The interceptor module that shortens activity retry intervals in the workflow unit tests. */
const FAST_RETRIES = fileURLToPath(new URL('./fast-retries.ts', import.meta.url));

/** The stubs a worker runs with, handed to the test body (for scenarios that look at them mid-run). */
export interface WorkerStubs {
  acts: ToteActivities;
  log: CallLog;
}

/** What `workflowTestKit()` gives a test file. */
export interface WorkflowTestKit {
  /** The test server; only valid inside tests (after beforeAll). */
  readonly env: TestWorkflowEnvironment;
  /**
   * Runs `fn` while a worker with `stubActivities(over)` polls a fresh task queue named `<queuePrefix>-<uuid>`;
   * resolves with what `fn` returned and the stubs' call log.
   */
  withWorker<T>(
    over: Partial<ToteActivities>,
    fn: (taskQueue: string, stubs: WorkerStubs) => Promise<T>,
    queuePrefix?: string,
  ): Promise<{ out: T; log: CallLog }>;
}

/**
 * Registers beforeAll (server and bundle, started together: about a second plus the server's start) and
 * afterAll (teardown) in the calling test file. Call once, at the top level of the file.
 */
export function workflowTestKit(): WorkflowTestKit {
  let env: TestWorkflowEnvironment | undefined;
  let bundle: WorkflowBundle | undefined;

  beforeAll(async () => {
    const fast = !recordingHistories();
    [env, bundle] = await Promise.all([
      startTestEnv({ promptTimers: fast }),
      bundleWorkflows(fast ? [FAST_RETRIES] : []),
    ]);
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  });

  function started(): { env: TestWorkflowEnvironment; bundle: WorkflowBundle } {
    if (!env || !bundle)
      throw new Error('workflowTestKit: the test environment is not started (use it in tests)');
    return { env, bundle };
  }

  return {
    get env() {
      return started().env;
    },
    async withWorker(over, fn, queuePrefix = 'test') {
      const { env: testEnv, bundle: workflowBundle } = started();
      const stubs = stubActivities(over);
      const taskQueue = `${queuePrefix}-${randomUUID()}`;
      const worker = await Worker.create({
        connection: testEnv.nativeConnection,
        taskQueue,
        workflowBundle,
        activities: stubs.acts,
      });
      return { out: await worker.runUntil(fn(taskQueue, stubs)), log: stubs.log };
    },
  };
}
