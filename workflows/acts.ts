/** Activity proxies with a one-line summary per call, shown for each activity in the Web UI. */
import { proxyActivities, type ActivityInterfaceFor, type ActivityOptions } from '@temporalio/workflow';
import type { ToteActivities } from '../activities/index.js';

/** The activities, called with `opts` and `summary` (keep it one short line). */
export function acts(opts: ActivityOptions, summary: string): ActivityInterfaceFor<ToteActivities> {
  return proxyActivities<ToteActivities>({ ...opts, summary });
}
