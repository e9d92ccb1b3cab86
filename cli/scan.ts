/**
 * `tote scan`: last-copy protection on demand. Starts the `scanLastCopies` workflow (the worker lists running pods,
 * counts the nodes holding each image, HEADs each manifest on its registry), waits for it, and prints which images
 * are gone from their registry and held by few nodes, and what was done (warned, backed up).
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { scanWorkflowId, type ScanInput, type ScanReport } from '../common/last-copy.js';
import { scanLastCopies } from '../workflows/index.js';
import { scanStartOptions } from '../workflows/scan-start-options.js';
import {
  addTemporalOptions,
  firstLine,
  temporalSettings,
  withTemporal,
  workflowUrl,
  type TemporalFlags,
  type TemporalSettings,
} from './connect.js';
import { UserError } from './errors.js';
import { makeStyle, printJson, useColor, type OutStream } from './output.js';
import { renderScan } from './scan-view.js';
import { parseDuration } from './status.js';

/** Options of `tote scan`. */
export interface ScanFlags extends TemporalFlags {
  namespace?: string;
  minCopies: string;
  backup?: boolean;
  registryInsecure?: boolean;
  json?: boolean;
  timeout: string;
}

/** `--min-copies`: an integer from 0 (only images no node holds) to 1000. */
export function parseMinCopies(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n > 1000) {
    throw new UserError(`--min-copies: invalid value "${value}"; expected an integer from 0 to 1000`);
  }
  return n;
}

/** The workflow input from the flags, validated. */
export function scanInput(flags: ScanFlags): ScanInput {
  const ns = flags.namespace;
  if (ns !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) {
    throw new UserError(`--namespace: invalid value "${ns}"; expected a Kubernetes namespace name`);
  }
  return {
    ...(ns ? { namespace: ns } : {}),
    minCopies: parseMinCopies(flags.minCopies),
    backup: flags.backup === true,
    registryInsecure: flags.registryInsecure === true,
  };
}

/** Fails at once when no worker polls the task queue: the scan would never start. */
async function requireWorker(client: Client, s: TemporalSettings): Promise<void> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: s.namespace,
    taskQueue: { name: s.taskQueue, kind: 1 },
    taskQueueType: 1,
  });
  if ((res.pollers ?? []).length > 0) return;
  throw new UserError(
    `no tote worker polls task queue "${s.taskQueue}" in Temporal namespace ${s.namespace}; the scan runs on a worker: start "tote worker" or check --task-queue`,
  );
}

function timeout(ms: number, workflowId: string): { promise: Promise<never>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new UserError(
            `the scan did not finish within --timeout; it goes on in Temporal as workflow ${workflowId}`,
          ),
        ),
      ms,
    );
  });
  return { promise, clear: () => clearTimeout(timer) };
}

/** Starts the scan and waits for its report. */
async function scan(
  client: Client,
  s: TemporalSettings,
  input: ScanInput,
  timeoutMs: number,
): Promise<ScanReport> {
  await requireWorker(client, s);
  const workflowId = scanWorkflowId(new Date(), randomUUID().slice(0, 8));
  const handle = await client.workflow.start(
    scanLastCopies,
    scanStartOptions(input, { taskQueue: s.taskQueue, workflowId }),
  );
  const t = timeout(timeoutMs, workflowId);
  try {
    return await Promise.race([handle.result(), t.promise]);
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      throw new UserError(`scan ${workflowId} failed: ${firstLine(err.cause ?? err)}`);
    }
    throw err;
  } finally {
    t.clear();
  }
}

/** Runs `tote scan`. */
export async function runScan(flags: ScanFlags, out: OutStream = process.stdout): Promise<void> {
  const input = scanInput(flags);
  const timeoutMs = parseDuration('--timeout', flags.timeout);
  const s = temporalSettings(flags, process.env);
  const report = await withTemporal(s, ({ client }) => scan(client, s, input, timeoutMs));
  if (flags.json) return printJson(out, report);
  const url = workflowUrl(s, report.workflowId);
  out.write(renderScan(report, { style: makeStyle(useColor(out, process.env)), url }));
}

/** `tote scan`. */
export function registerScan(program: Command): void {
  const cmd = program
    .command('scan')
    .description(
      'Last-copy protection: find images running pods use that are gone from their registry and held by few nodes; warn, and back them up.',
    )
    .option('--namespace <name>', 'only pods in this namespace (default: all namespaces)')
    .option('--min-copies <n>', 'images on at most this many nodes are at risk', '1')
    .option('--backup', "push at-risk images to the worker's --backup-registry, through a holder's agent")
    .option('--registry-insecure', 'ask source registries over plain HTTP instead of HTTPS')
    .option('--json', 'print the report as JSON only')
    .option('--timeout <duration>', 'stop waiting for the scan after this long', '10m');
  addTemporalOptions(cmd);
  cmd.addHelpText(
    'after',
    `
The scan runs on a tote worker (scanLastCopies workflow): it lists pods in phase Running, reads each image's
digest from the pod (pinned reference, then the container status imageID), Node.status.images or the agents,
counts the nodes whose agent holds a complete copy, and HEADs the manifest by digest on its registry
(anonymously: a 401 or an unreachable registry is "unknown", not "gone"). Each image gone from its registry
and on at most --min-copies nodes gets an ImageLastCopy Warning event on one pod using it; with --backup (and
a worker --backup-registry) it is pushed there, when a namespace using it allows tote (tote.dev/allow).

Exit codes: 0 the scan ran (whatever it found); 1 it could not run or failed.

Examples:
  tote scan
  tote scan --namespace shop --min-copies 2 --backup
  tote scan --json | jq '.rows[] | select(.atRisk)'
`,
  );
  cmd.action((flags: ScanFlags) => runScan(flags, process.stdout));
}
