// The salvage starter against a real Temporal dev server (the sandbox's binary) and a worker with stub
// activities: a running salvage is joined, a failed one is not restarted during its cool-down, and is once the
// cool-down is over (docs/adr/0007-failed-salvage-cooldown.md).
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { bundleWorkflows, startTestEnv } from '../test/replay/env.js';
import { DIGEST, inventory, stubActivities } from '../test/replay/stubs.js';

type ToteActivitiesStub = ReturnType<typeof stubActivities>['acts'];
import type { SalvageInput } from '../workflows/index.js';
import { FAILED_SALVAGE_COOLDOWN_MS } from './cooldown.js';
import { temporalStarter } from './starter.js';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;

beforeAll(async () => {
  [env, bundle] = await Promise.all([startTestEnv(), bundleWorkflows()]);
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

function salvageInput(): SalvageInput {
  return {
    digest: DIGEST,
    imageRef: 'registry.gone/app:1.0',
    node: `target-${randomUUID().slice(0, 8)}`,
    pod: { namespace: 'shop', name: 'web-1', uid: 'uid-1' },
    container: 'web',
    reason: 'ImagePullBackOff',
  };
}

/** A worker on a fresh task queue of `prefix` with the stub activities `acts`. */
async function workerOn(
  prefix: string,
  acts: ToteActivitiesStub,
): Promise<{ worker: Worker; taskQueue: string }> {
  const taskQueue = `${prefix}-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: acts,
  });
  return { worker, taskQueue };
}

async function runs(workflowId: string): Promise<number> {
  let n = 0;
  for await (const _ of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
  return n;
}

test('a failed salvage is not restarted during its cool-down, and is restarted after it', async () => {
  // No holder anywhere: every run fails at once with NoSourceNode.
  const { acts } = stubActivities({ locateSources: async () => inventory([]) });
  const { worker, taskQueue } = await workerOn('test-cooldown', acts);
  let clock = new Date();
  const starter = temporalStarter(env.client, taskQueue, { now: () => clock });
  const input = salvageInput();
  await worker.runUntil(async () => {
    const id = await starter.startSalvage(input);
    expect(typeof id).toBe('string');
    await expect(env.client.workflow.getHandle(id as string).result()).rejects.toThrow();
    // The controller restarts a minute later and sees the pod still failing: no new run.
    clock = new Date(Date.now() + 60_000);
    const held = await starter.startSalvage(input);
    expect(held).toMatchObject({ workflowId: id, lastStatus: 'FAILED' });
    expect((held as { retryInMs: number }).retryInMs).toBeGreaterThan(FAILED_SALVAGE_COOLDOWN_MS - 120_000);
    expect(await runs(id as string)).toBe(1);
    // After the cool-down, a new run starts.
    clock = new Date(Date.now() + FAILED_SALVAGE_COOLDOWN_MS + 60_000);
    expect(await starter.startSalvage(input)).toBe(id);
    await expect(env.client.workflow.getHandle(id as string).result()).rejects.toThrow();
    expect(await runs(id as string)).toBe(2);
  });
}, 120_000);

test('a running salvage is joined, not started twice', async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const { acts } = stubActivities({
    locateSources: async () => (await gate, inventory([])),
  });
  const { worker, taskQueue } = await workerOn('test-join', acts);
  const starter = temporalStarter(env.client, taskQueue);
  const input = salvageInput();
  await worker.runUntil(async () => {
    const first = await starter.startSalvage(input);
    const second = await starter.startSalvage(input);
    expect(second).toBe(first);
    release();
    await expect(env.client.workflow.getHandle(first as string).result()).rejects.toThrow();
    expect(await runs(first as string)).toBe(1);
  });
}, 120_000);

test('a pod that joins a running salvage (same image, same node) is restarted with the first, once, with its own event', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const defaults = stubActivities().acts;
  const { acts, log } = stubActivities({
    transferImage: async (i) => (await gate, defaults.transferImage(i)),
  });
  const { worker, taskQueue } = await workerOn('test-join', acts);
  const starter = temporalStarter(env.client, taskQueue);
  const input = salvageInput();
  const other = { ...input, pod: { namespace: 'shop', name: 'web-2', uid: 'uid-2' } };
  await worker.runUntil(async () => {
    const first = await starter.startSalvage(input);
    // The same pod again (a resync) and the second replica, twice: one restart each.
    expect(await starter.startSalvage(input)).toBe(first);
    expect(await starter.startSalvage(other)).toBe(first);
    expect(await starter.startSalvage(other)).toBe(first);
    release();
    await env.client.workflow.getHandle(first as string).result();
    expect(await runs(first as string)).toBe(1);
  });
  const restarted = log.calls
    .filter((c) => c.name === 'deleteOwnedPod')
    .map((c) => (c.arg as { pod: { name: string } }).pod.name);
  expect(restarted).toEqual(['web-1', 'web-2']);
  const joined = log.calls.filter(
    (c) => c.name === 'emitEvent' && (c.arg as { reason: string }).reason === 'ImageSalvageJoined',
  );
  expect(joined.map((c) => (c.arg as { pod: { name: string } }).pod.name)).toEqual(['web-2']);
  expect(log.calls.filter((c) => c.name === 'checkOptIn')).toHaveLength(2);
}, 120_000);
