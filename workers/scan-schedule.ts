/**
 * The last-copy scan's Temporal Schedule, opt-in with `--scan-interval`: every worker creates or updates it at
 * start, as it does the reaper's (workers/reaper-schedule.ts), so one scan runs per interval however many workers
 * there are. A worker started without the flag deletes it, so turning the scan off takes effect on the next
 * rollout. Scheduled scans push at-risk images whenever a backup registry is configured.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
} from '@temporalio/client';
import { SCAN_SCHEDULE_ID, type ScanInput } from '../common/last-copy.js';
import type { Logger } from '../infra/logger.js';
import { scanSummary } from '../workflows/scan-start-options.js';

/** The scan settings of the worker (`--scan-interval`, `--scan-min-copies`, `--scan-registry-insecure`). */
export interface ScanScheduleConfig {
  everyMs: number;
  minCopies: number;
  registryInsecure: boolean;
}

/** Options of {@link ensureScanSchedule}. */
export interface ScanScheduleOptions {
  taskQueue: string;
  /** Absent: the scan is off and an existing schedule is deleted. */
  scan?: ScanScheduleConfig;
  logger: Logger;
}

async function deleteSchedule(client: Client, logger: Logger): Promise<void> {
  try {
    await client.schedule.getHandle(SCAN_SCHEDULE_ID).delete();
    logger.info({ scheduleId: SCAN_SCHEDULE_ID }, 'scan schedule deleted (no --scan-interval)');
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

/** Creates, updates or (when the scan is off) deletes the scan schedule. */
export async function ensureScanSchedule(client: Client, opts: ScanScheduleOptions): Promise<void> {
  const scan = opts.scan;
  if (!scan) return deleteSchedule(client, opts.logger);
  const input: ScanInput = {
    minCopies: scan.minCopies,
    backup: true,
    registryInsecure: scan.registryInsecure,
  };
  const spec = { intervals: [{ every: scan.everyMs }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'scanLastCopies',
    workflowId: 'scan-last-copies',
    taskQueue: opts.taskQueue,
    args: [input],
    staticSummary: scanSummary(input),
  };
  // A scan still running when the next is due is skipped; a missed one (Temporal down) catches up once.
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' };
  const log = { scheduleId: SCAN_SCHEDULE_ID, everyMs: scan.everyMs, minCopies: scan.minCopies };
  try {
    await client.schedule.create({ scheduleId: SCAN_SCHEDULE_ID, spec, action, policies });
    opts.logger.info(log, 'scan schedule created');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(SCAN_SCHEDULE_ID).update((prev) => ({ ...prev, spec, action, policies }));
    opts.logger.info(log, 'scan schedule updated');
  }
}
