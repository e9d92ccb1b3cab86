/**
 * `reapSalvageRecords`: deletes SalvageRecords older than the TTL. Started by the Temporal Schedule the worker
 * creates or updates at start (workers/worker.ts), so exactly one reaper runs however many workers there are.
 */
import { acts } from './acts.js';
import { REAP } from './activity-options.js';
import type { ReapInput } from './types.js';

/** Deletes expired SalvageRecords; returns how many were deleted and kept. */
export async function reapSalvageRecords(input: ReapInput = {}): Promise<{ deleted: number; kept: number }> {
  return acts(REAP, 'Delete expired SalvageRecords').reapExpiredRecords({ ttlSeconds: input.ttlSeconds });
}
