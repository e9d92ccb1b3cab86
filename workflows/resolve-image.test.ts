import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { ToteActivities } from '../activities/index.js';
import { captureSdkLogs, maybeRecordHistory } from '../test/replay/env.js';
import { DIGEST, type CallLog } from '../test/replay/stubs.js';
import { workflowTestKit } from '../test/replay/workflow-kit.js';
import type { resolveImage, ResolveImageResult } from './index.js';
import { resolveStartOptions } from './start-options.js';

const kit = workflowTestKit();

async function run(
  name: string,
  registryResolve: boolean,
  over: Partial<ToteActivities>,
): Promise<{ result: ResolveImageResult; log: CallLog; workflowId: string }> {
  const reference = `registry.gone/app-${randomUUID().slice(0, 8)}:1.0`;
  const { out, log } = await kit.withWorker(
    over,
    async (taskQueue) => {
      const opts = resolveStartOptions({ reference, registryResolve }, taskQueue);
      const handle = await kit.env.client.workflow.start<typeof resolveImage>('resolveImage', opts);
      const result = await handle.result();
      await maybeRecordHistory(`resolve-image-${name}`, {
        address: kit.env.address,
        workflowId: handle.workflowId,
      });
      return { result, workflowId: opts.workflowId };
    },
    `test-${name}`,
  );
  return { ...out, log };
}

test('given an agent that knows the tag, the digest comes from the agents and the registry is not asked', async () => {
  const { result, log, workflowId } = await run('agents', true, {
    resolveTagOnAgents: async () => ({ digest: DIGEST, nodes: ['node-a'] }),
  });
  expect(result).toEqual({ digest: DIGEST, via: 'agents', nodes: ['node-a'] });
  expect(log.names()).toEqual(['resolveTagOnAgents']);
  expect(workflowId).toMatch(/^resolve\/registry\.gone\/app-[0-9a-f]{8}:1\.0$/);
});

test('given no agent knows it and --registry-resolve, the registry answers', async () => {
  const { result, log } = await run('registry', true, { resolveTag: async () => ({ digest: DIGEST }) });
  expect(result).toEqual({ digest: DIGEST, via: 'registry' });
  expect(log.names()).toEqual(['resolveTagOnAgents', 'resolveTag']);
});

test('given no agent knows it and no --registry-resolve, nothing else is asked', async () => {
  const { result, log } = await run('none', false, {});
  expect(result).toEqual({ digest: null, tried: ['agents'] });
  expect(log.names()).toEqual(['resolveTagOnAgents']);
});

test('given a registry that keeps failing, the result says so after a few attempts instead of failing', async () => {
  const {
    out: { result, log },
  } = await captureSdkLogs(() =>
    run('registry-down', true, {
      resolveTag: async () => {
        throw ApplicationFailure.nonRetryable('connection refused', 'RegistryUnavailable');
      },
    }),
  );
  expect(result).toMatchObject({ digest: null, tried: ['agents', 'registry'] });
  expect((result as { error?: string }).error).toContain('connection refused');
  expect(log.names()).toEqual(['resolveTagOnAgents', 'resolveTag']);
});
