/**
 * The reconciler's Temporal side: starts (or joins) workflows with the options of workflows/start-options.ts and
 * waits for `resolveImage`. Only types come from the workflow modules, so no workflow code loads in the controller.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { POD_JOINED_SIGNAL } from '../common/names.js';
import type { cleanupCorruptImage, JoinedPod, resolveImage, salvageImage } from '../workflows/index.js';
import { cleanupStartOptions, resolveStartOptions, salvageStartOptions } from '../workflows/start-options.js';
import { cooldownLeft, FAILED_SALVAGE_COOLDOWN_MS } from './cooldown.js';
import type { DeferredStart, WorkflowStarter } from './ports.js';
import type { RemoteResolveResult, RemoteResolver } from './resolve.js';

/** Options of {@link temporalStarter}. */
export interface StarterOptions {
  /** Cool-down after a salvage run that ended without success (controller/cooldown.ts). @default 10 min */
  failedCooldownMs?: number;
  /** @default () => new Date() */
  now?: () => Date;
}

/**
 * Starts `salvageImage` / `cleanupCorruptImage` on `taskQueue`; resolves with the workflow id. A salvage start
 * first refuses to reuse a closed id (REJECT_DUPLICATE; a running one is joined); only when one is closed does it
 * read the last run, and it starts a new one unless that run ended without success less than the cool-down ago
 * (docs/adr/0007-failed-salvage-cooldown.md). Every salvage start is a signal-with-start of `podJoined` with the
 * pod, so a pod that joins a running salvage (same image, same node) is restarted with the first one.
 */
export function temporalStarter(
  client: Client,
  taskQueue: string,
  opts: StarterOptions = {},
): WorkflowStarter {
  const cooldownMs = opts.failedCooldownMs ?? FAILED_SALVAGE_COOLDOWN_MS;
  const now = opts.now ?? ((): Date => new Date());
  return {
    async startSalvage(input): Promise<string | DeferredStart> {
      // Signal-with-start always joins a running run: no conflict policy to give.
      const { workflowIdConflictPolicy: _joins, ...opts } = salvageStartOptions(input, taskQueue);
      const { workflowId } = opts;
      const joined: JoinedPod = {
        pod: input.pod,
        container: input.container,
        containerKind: input.containerKind,
        pullPolicy: input.pullPolicy,
        reason: input.reason,
      };
      const signal = { signal: POD_JOINED_SIGNAL, signalArgs: [joined] as [JoinedPod] };
      try {
        await client.workflow.signalWithStart<typeof salvageImage, [JoinedPod]>('salvageImage', {
          ...opts,
          ...signal,
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
        return workflowId;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      const d = await client.workflow.getHandle(workflowId).describe();
      const last = { status: d.status.name, closeTime: d.closeTime };
      const retryInMs = cooldownLeft(last, now(), cooldownMs, { pullPolicy: input.pullPolicy });
      if (retryInMs > 0) return { workflowId, lastStatus: last.status, retryInMs };
      // Closed long enough ago (or completed): a new run. Another replica may do the same: it joins that run.
      await client.workflow.signalWithStart<typeof salvageImage, [JoinedPod]>('salvageImage', {
        ...opts,
        ...signal,
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
      return workflowId;
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
