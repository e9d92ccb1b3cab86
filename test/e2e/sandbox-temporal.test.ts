import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { startTemporal, temporalCli, type Temporal } from '../harness/temporal.js';
import { waitFor } from '../harness/ports.js';
import { Run } from '../harness/run.js';
import type { sandboxEcho, sandboxWaitForRelease } from '../fixtures/workflows/index.js';

const workflowsPath = fileURLToPath(new URL('../fixtures/workflows/index.ts', import.meta.url));
const imageDigestKey = defineSearchAttributeKey('ImageDigest', SearchAttributeType.KEYWORD);

let run: Run;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  run = Run.create('e2e-temporal');
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Installed already by an earlier test file in this process: keep that one.
  }
  bundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
}, 120_000);

afterAll(async () => {
  await run.stop();
});

async function start(opts: Parameters<typeof startTemporal>[1] = {}): Promise<Temporal> {
  try {
    const env = await startTemporal(run, opts);
    console.log(`temporal dev server ready in ${env.startupMs} ms (${env.address})`);
    return env;
  } catch (err) {
    console.error(run.tailLogs());
    throw err;
  }
}

/** Runs `fn` with a worker polling a fresh task queue on `env`, then shuts the worker down. */
async function withWorker<T>(
  env: Temporal,
  fn: (client: Client, taskQueue: string) => Promise<T>,
  taskQueue = `sandbox-${randomUUID()}`,
): Promise<T> {
  const nativeConnection = await NativeConnection.connect({ address: env.address });
  const connection = await Connection.connect({ address: env.address });
  try {
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: env.namespace,
      taskQueue,
      workflowBundle: bundle,
      activities: { echo: async (m: string) => `echo: ${m}` },
    });
    const client = new Client({ connection, namespace: env.namespace });
    return await worker.runUntil(fn(client, taskQueue));
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

async function listIdsByDigest(env: Temporal, digest: string): Promise<string[]> {
  const out = await temporalCli(env, [
    'workflow',
    'list',
    '--query',
    `ImageDigest="${digest}"`,
    '--output',
    'json',
  ]);
  const rows = JSON.parse(out.trim() || '[]') as { execution?: { workflowId?: string } }[];
  return rows.map((r) => r.execution?.workflowId ?? '');
}

test('given the dev server, a workflow runs on a worker and is found by its ImageDigest search attribute', async () => {
  const env = await start({ ui: true });
  try {
    const digest = `sha256:${randomUUID().replaceAll('-', '').repeat(2)}`;
    const workflowId = `sandbox/${digest}`;
    const result = await withWorker(env, async (client, taskQueue) => {
      const handle = await client.workflow.start<typeof sandboxEcho>('sandboxEcho', {
        taskQueue,
        workflowId,
        args: ['hello'],
        typedSearchAttributes: [{ key: imageDigestKey, value: digest }],
      });
      return handle.result();
    });
    expect(result).toBe('echo: hello');
    // Visibility is eventually consistent: wait for the listing rather than assume it is immediate.
    const ids = await waitFor('the workflow in visibility', async () => {
      const found = await listIdsByDigest(env, digest);
      return found.length > 0 ? found : false;
    });
    expect(ids).toEqual([workflowId]);
    expect(await listIdsByDigest(env, `sha256:${'0'.repeat(64)}`)).toEqual([]);
    expect(env.uiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  } finally {
    await env.stop();
  }
});

test('given a db file, a running workflow survives a server crash and restart on the same address', async () => {
  const env = await start({ dbFile: path.join(run.path('temporal-db'), 'temporal.sqlite') });
  try {
    const workflowId = `sandbox-durable-${randomUUID()}`;
    const taskQueue = `sandbox-${randomUUID()}`;
    const before = await Connection.connect({ address: env.address });
    await new Client({ connection: before }).workflow.start<typeof sandboxWaitForRelease>(
      'sandboxWaitForRelease',
      {
        taskQueue,
        workflowId,
      },
    );
    await before.close();
    const address = env.address;

    await env.restart({ kill: true });

    expect(env.address).toBe(address);
    const result = await withWorker(
      env,
      async (client) => {
        const handle = client.workflow.getHandle(workflowId);
        expect((await handle.describe()).status.name).toBe('RUNNING');
        await handle.signal('release');
        return handle.result();
      },
      taskQueue,
    );
    expect(result).toBe('released');
  } finally {
    await env.stop();
  }
});
