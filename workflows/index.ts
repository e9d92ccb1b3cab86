/**
 * The `workflowsPath` of the worker: every export that is a function here is a workflow type. Helpers live in
 * their own modules and are not re-exported (a re-exported helper would become a bogus workflow type).
 * The controller and the CLI import signals, queries, types and start options from here.
 */
export {
  salvageImage,
  approveSignal,
  rejectSignal,
  progressQuery,
  podJoinedSignal,
  transferProgressSignal,
} from './salvage-image.js';
export { cleanupCorruptImage, type CleanupResult } from './cleanup-corrupt-image.js';
export { reapSalvageRecords } from './reap-salvage-records.js';
export { resolveImage, type ResolveImageInput, type ResolveImageResult } from './resolve-image.js';
export { planSalvage, type PlanInput, type SalvagePlan } from './plan-salvage.js';
export { scanLastCopies } from './scan-last-copies.js';
export type { ScanInput, ScanReport, ScanRow } from '../common/last-copy.js';
export type * from './types.js';
