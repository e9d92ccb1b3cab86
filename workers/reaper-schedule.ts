/**
 * The reaper's Temporal Schedule: created by every worker at start, or updated when it exists (a changed
 * `--reap-interval` or task queue applies on the next start). The schedule, not the workers, decides when the
 * reaper runs, so it runs once per interval however many workers there are.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Logger } from '../infra/logger.js';

/** The schedule id. MAINTENANCE: docs/operations-guide.md names it. */
export const REAPER_SCHEDULE_ID = 'tote-reap-salvage-records';

/** Options of {@link ensureReaperSchedule}. */
export interface ReaperScheduleOptions {
  taskQueue: string;
  everyMs: number;
  logger: Logger;
}

/** Creates or updates the reaper schedule. */
export async function ensureReaperSchedule(client: Client, opts: ReaperScheduleOptions): Promise<void> {
  const spec = { intervals: [{ every: opts.everyMs }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'reapSalvageRecords',
    workflowId: 'reap-salvage-records',
    taskQueue: opts.taskQueue,
    args: [{}],
    staticSummary: 'Delete SalvageRecords older than --salvagerecord-ttl',
  };
  // A run that is still going when the next is due is skipped; a missed run (Temporal down) catches up once.
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' };
  try {
    await client.schedule.create({ scheduleId: REAPER_SCHEDULE_ID, spec, action, policies });
    opts.logger.info({ scheduleId: REAPER_SCHEDULE_ID, everyMs: opts.everyMs }, 'reaper schedule created');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule
      .getHandle(REAPER_SCHEDULE_ID)
      .update((prev) => ({ ...prev, spec, action, policies }));
    opts.logger.info({ scheduleId: REAPER_SCHEDULE_ID, everyMs: opts.everyMs }, 'reaper schedule updated');
  }
}
