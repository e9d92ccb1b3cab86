import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import type { ToteActivities } from '../activities/index.js';
import { bundleWorkflows, startTestEnv } from '../test/replay/env.js';
import { DIGEST, inventory, policy, stubActivities, type CallLog } from '../test/replay/stubs.js';
import { planSalvage, salvageImage } from './index.js';
import { planProblems, type SalvagePlan } from './plan-salvage.js';
import { salvageStartOptions } from './start-options.js';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;

beforeAll(async () => {
  [env, bundle] = await Promise.all([startTestEnv(), bundleWorkflows()]);
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

const POD = { namespace: 'shop', name: 'web-1', uid: 'uid-1' };

async function withWorker<T>(over: Partial<ToteActivities>, fn: (taskQueue: string) => Promise<T>) {
  const { acts, log } = stubActivities(over);
  const taskQueue = `plan-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: acts,
  });
  const out = await worker.runUntil(fn(taskQueue));
  return { out, log };
}

async function plan(over: Partial<ToteActivities>): Promise<{ out: SalvagePlan; log: CallLog }> {
  return withWorker(over, (taskQueue) =>
    env.client.workflow.execute(planSalvage, {
      taskQueue,
      workflowId: `plan/${DIGEST}/target/${randomUUID()}`,
      args: [{ digest: DIGEST, node: 'target', pod: POD }],
    }),
  );
}

describe('planSalvage', () => {
  test('given two sources and a target agent, should plan the first source and read nothing else', async () => {
    const { out, log } = await plan({});
    expect(out.transfer).toMatchObject({ source: 'node-a', bytesToMove: 500, dedup: 'exact' });
    expect(out.sources.map((s) => s.node)).toEqual(['node-a', 'node-b']);
    expect(out.policy?.mode).toBe('auto');
    expect(out.problems).toEqual([]);
    // A plan only reads: no event, no webhook, no transfer, no record.
    expect(log.names().sort()).toEqual(['loadPolicy', 'locateSources', 'planTransfer']);
  });

  test('given a target that already holds the image, should not plan a transfer', async () => {
    const { out, log } = await plan({
      locateSources: async () => inventory(['node-a'], { targetHasImage: true }),
    });
    expect(out.targetHasImage).toBe(true);
    expect(out.transfer).toBeUndefined();
    expect(log.names()).not.toContain('planTransfer');
  });

  test('given no source anywhere, should say so instead of failing', async () => {
    const { out } = await plan({ locateSources: async () => inventory([]) });
    expect(out.problems).toEqual([`no node with a reachable tote agent holds a complete copy of ${DIGEST}`]);
  });

  test('given a source that cannot describe the image, should report it as a problem', async () => {
    const { out } = await plan({
      planTransfer: async () => {
        throw ApplicationFailure.nonRetryable('image is incomplete on node node-a', 'AgentGrpc9');
      },
    });
    expect(out.transfer).toBeUndefined();
    expect(out.problems).toEqual([
      'source node-a could not describe the image: image is incomplete on node node-a',
    ]);
  });
});

describe('planProblems', () => {
  const input = { digest: DIGEST, node: 'target' };
  test('given a size over the limit and detect-only mode, should list both', () => {
    const inv = inventory(['node-a']);
    expect(
      planProblems(input, inv, { policy: policy({ mode: 'detect-only', maxImageSizeBytes: 999 }) }),
    ).toEqual([
      'image is 1000 bytes, over the limit of 999 bytes (--max-image-size)',
      'the namespace is in detect-only mode: tote would only report',
    ]);
  });

  test('given no agent on the target, should name the node', () => {
    expect(planProblems(input, inventory(['node-a'], { targetEndpoint: undefined }), {})).toEqual([
      'no ready tote agent on target node target',
    ]);
  });
});

describe('salvageImage asked for by an operator', () => {
  test('given requestedBy, should re-check opt-in without requiring the workload annotation', async () => {
    let seen: unknown = 'not called';
    const checkOptIn: ToteActivities['checkOptIn'] = async (_pod, opts) => void (seen = opts);
    const { out } = await withWorker({ checkOptIn }, (taskQueue) =>
      env.client.workflow.execute(
        salvageImage,
        salvageStartOptions(
          {
            digest: DIGEST,
            imageRef: 'registry.gone/app:1.0',
            node: `target-${randomUUID().slice(0, 8)}`,
            pod: POD,
            reason: 'ImagePullBackOff',
            requestedBy: 'alice@host',
          },
          taskQueue,
        ),
      ),
    );
    expect(out.outcome).toBe('salvaged');
    expect(seen).toEqual({ requireWorkload: false });
  });
});
