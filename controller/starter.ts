/**
 * The reconciler's Temporal side: starts (or joins) workflows with the options of workflows/start-options.ts and
 * waits for `resolveImage`. Only types come from the workflow modules, so no workflow code loads in the controller.
 */
import type { Client } from '@temporalio/client';
import type { cleanupCorruptImage, resolveImage, salvageImage } from '../workflows/index.js';
import { cleanupStartOptions, resolveStartOptions, salvageStartOptions } from '../workflows/start-options.js';
import type { WorkflowStarter } from './reconciler.js';
import type { RemoteResolveResult, RemoteResolver } from './resolve.js';

/** Starts `salvageImage` / `cleanupCorruptImage` on `taskQueue`; resolves with the workflow id. */
export function temporalStarter(client: Client, taskQueue: string): WorkflowStarter {
  return {
    async startSalvage(input) {
      const opts = salvageStartOptions(input, taskQueue);
      await client.workflow.start<typeof salvageImage>('salvageImage', opts);
      return opts.workflowId;
    },
    async startCleanup(input) {
      const opts = cleanupStartOptions(input, taskQueue);
      await client.workflow.start<typeof cleanupCorruptImage>('cleanupCorruptImage', opts);
      return opts.workflowId;
    },
  };
}

/** Runs `resolveImage` and waits for its answer (bounded by the workflow's own execution timeout). */
export function temporalResolver(client: Client, taskQueue: string): RemoteResolver {
  return {
    async resolve(req): Promise<RemoteResolveResult> {
      const opts = resolveStartOptions(
        { reference: req.reference, registryResolve: req.registryResolve },
        taskQueue,
      );
      const handle = await client.workflow.start<typeof resolveImage>('resolveImage', opts);
      return handle.result();
    },
  };
}
