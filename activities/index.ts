/**
 * `createActivities(deps)`: every activity of the worker, built from injected clients (docs/conventions.md, module boundaries). The worker
 * registers the returned object; workflows see its type only (`import type`).
 */
import type { ActivityDeps } from './deps.js';
import { createCleanupActivities } from './cleanup.js';
import { createEventActivities } from './events.js';
import { createInventoryActivities, HolderSurveys } from './inventory.js';
import { withLiveness } from './liveness.js';
import { createNotifyActivities } from './notify.js';
import { createPlanActivities } from './plan.js';
import { createPodActivities } from './pods.js';
import { createPolicyActivities } from './policy.js';
import { createRecordActivities } from './records.js';
import { createRegistryActivities } from './registry.js';
import { createResolveActivities } from './resolve.js';
import { createScanActivities } from './scan.js';
import { createTransferActivities } from './transfer.js';

/** The activities' interface, for `proxyActivities<ToteActivities>()` in workflows. */
export type ToteActivities = ReturnType<typeof createPolicyActivities> &
  ReturnType<typeof createEventActivities> &
  ReturnType<typeof createInventoryActivities> &
  ReturnType<typeof createTransferActivities> &
  ReturnType<typeof createRecordActivities> &
  ReturnType<typeof createPodActivities> &
  ReturnType<typeof createPlanActivities> &
  ReturnType<typeof createRegistryActivities> &
  ReturnType<typeof createResolveActivities> &
  ReturnType<typeof createNotifyActivities> &
  ReturnType<typeof createCleanupActivities> &
  ReturnType<typeof createScanActivities>;

/** Builds all activities from their dependencies. */
export function createActivities(deps: ActivityDeps): ToteActivities {
  // One survey of the agents per digest serves every salvage of it that locates at the same moment (fan-out).
  const surveys = new HolderSurveys(deps);
  const all: ToteActivities = {
    ...createPolicyActivities(deps),
    ...createEventActivities(deps),
    ...createInventoryActivities(deps, surveys),
    ...createTransferActivities(deps, surveys),
    ...createRecordActivities(deps),
    ...createPodActivities(deps),
    ...createPlanActivities(deps),
    ...createRegistryActivities(deps),
    ...createResolveActivities(deps),
    ...createNotifyActivities(deps),
    ...createCleanupActivities(deps),
    ...createScanActivities(deps),
  };
  return withLiveness(all, LIVENESS);
}

/**
 * Activities that beat on a timer while they work (activities/liveness.ts), so a dead worker is noticed within
 * their short heartbeat timeout. `transferImage` and `pushBackup` heartbeat their own progress and
 * `reapExpiredRecords` its deletes; the quick Kubernetes calls are bounded by a start-to-close of seconds instead.
 * MAINTENANCE: an activity listed here may get a `heartbeatTimeout` in workflows/activity-options.ts; one that
 * gets a heartbeat timeout must be listed here (or heartbeat itself), or it is timed out while it works.
 */
export const LIVENESS: readonly (keyof ToteActivities)[] = [
  'locateSources',
  'verifyImage',
  'planTransfer',
  'removeImageRecord',
  'resolveTagOnAgents',
  'resolveTag',
  'sendWebhook',
  'listImagesInUse',
  'countImageHolders',
  'checkRegistryCopies',
];

export type * from './types.js';
export type { ActivityDeps } from './deps.js';
export type { EmitEventInput } from './events.js';
export type { LocateInput } from './inventory.js';
export type { TransferInput } from './transfer.js';
export type { RestartResult } from './pods.js';
export type { PlanTransferInput, TransferPlan } from './plan.js';
export type { PushInput } from './registry.js';
export type { AgentResolution } from './resolve.js';
export type { WebhookInput } from './notify.js';
export type {
  HolderAnswer,
  HolderCount,
  HolderQuery,
  LastCopyWarning,
  RegistryAnswer,
  RegistryQuery,
} from './scan.js';
