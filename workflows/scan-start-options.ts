/**
 * Start options of `scanLastCopies`, for `tote scan` (the worker's Schedule builds its own action with the same
 * summary). Each manual scan gets a fresh id: two operators scanning at once each get their own report.
 */
import type { WorkflowStartOptions } from '@temporalio/client';
import type { ScanInput } from '../common/last-copy.js';
import type { scanLastCopies } from './scan-last-copies.js';

/** One-line Web UI summary of a scan. */
export function scanSummary(input: ScanInput): string {
  const where = input.namespace ? `namespace ${input.namespace}` : 'all namespaces';
  const push = input.backup ? ', push them to the backup registry' : '';
  return `Last-copy scan of ${where}: images gone from their registry on <= ${input.minCopies ?? 1} nodes${push}`;
}

/** Options for `client.workflow.start(scanLastCopies, …)`. */
export function scanStartOptions(
  input: ScanInput,
  opts: { taskQueue: string; workflowId: string },
): WorkflowStartOptions<typeof scanLastCopies> {
  return {
    taskQueue: opts.taskQueue,
    workflowId: opts.workflowId,
    args: [input],
    // A scan reads the cluster as it is now; one that cannot finish within this is better started again.
    workflowExecutionTimeout: '1h',
    staticSummary: scanSummary(input),
  };
}
