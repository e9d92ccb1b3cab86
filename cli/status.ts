/**
 * `tote status`: the running and recent salvages, from Temporal's visibility store (the same list the Web UI
 * shows), filtered by workflow type and tote's search attributes. Visibility is eventually consistent: a salvage
 * started a second ago may appear a moment later.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Command } from 'commander';
import { SA } from '../workflows/search-attributes.js';
import {
  addTemporalOptions,
  temporalSettings,
  withTemporal,
  workflowUrl,
  type TemporalFlags,
  type TemporalSettings,
} from './connect.js';
import { UserError } from './errors.js';
import {
  formatAge,
  makeStyle,
  printJson,
  renderTable,
  useColor,
  type OutStream,
  type Style,
} from './output.js';
import { parsePodArg } from './salvage-target.js';

/** Workflow types `tote status` lists: the salvages and the corrupt-image cleanups. */
export const LISTED_TYPES = ['salvageImage', 'cleanupCorruptImage'] as const;

/** Options of `tote status`. */
export interface StatusFlags extends TemporalFlags {
  since: string;
  limit: string;
  running?: boolean;
  pod?: string;
  node?: string;
  json?: boolean;
}

/** One listed salvage. */
export interface StatusRow {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  phase?: string;
  podNamespace?: string;
  podName?: string;
  node?: string;
  digest?: string;
  startTime: string;
  closeTime?: string;
  url?: string;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Go-style durations, as the other tote commands take them (`500ms`, `90s`, `30m`, `1h30m`), plus days (`7d`) →
 * milliseconds; a UserError naming `flag` otherwise.
 */
export function parseDuration(flag: string, value: string): number {
  const v = value.trim();
  const parts = /^(?:\d+(?:ms|s|m|h|d))+$/.test(v) ? [...v.matchAll(/(\d+)(ms|s|m|h|d)/g)] : [];
  const ms = parts.reduce((n, m) => n + Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? NaN), 0);
  if (parts.length === 0 || !Number.isSafeInteger(ms) || ms <= 0) {
    throw new UserError(
      `${flag}: invalid value "${value}"; expected a duration such as 500ms, 90s, 30m, 1h30m, 24h or 7d`,
    );
  }
  return ms;
}

/** A positive integer up to `max`, else a UserError naming `flag`. */
export function parseCount(flag: string, value: string, max: number): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new UserError(`${flag}: invalid value "${value}"; expected an integer from 1 to ${max}`);
  }
  return n;
}

function quote(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** What to list. */
export interface StatusQuery {
  /** Closed workflows started after this are listed too. */
  since: Date;
  runningOnly: boolean;
  pod?: { namespace: string; name: string };
  node?: string;
}

/** The visibility query for `q`: tote's workflow types, running or started since `q.since`, filtered. */
export function visibilityQuery(q: StatusQuery): string {
  const types = LISTED_TYPES.map(quote).join(', ');
  const when = q.runningOnly
    ? `ExecutionStatus = 'Running'`
    : `(ExecutionStatus = 'Running' OR StartTime > ${quote(q.since.toISOString())})`;
  const parts = [`WorkflowType IN (${types})`, when];
  if (q.pod) parts.push(`PodNamespace = ${quote(q.pod.namespace)}`, `PodName = ${quote(q.pod.name)}`);
  if (q.node) parts.push(`TargetNode = ${quote(q.node)}`);
  return parts.join(' AND ');
}

/** One row from a listed execution. */
export function toRow(
  info: WorkflowExecutionInfo,
  s: Pick<TemporalSettings, 'uiUrl' | 'namespace'>,
): StatusRow {
  const sa = info.typedSearchAttributes;
  const row: StatusRow = {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    status: info.status.name,
    phase: sa.get(SA.SalvagePhase),
    podNamespace: sa.get(SA.PodNamespace),
    podName: sa.get(SA.PodName),
    node: sa.get(SA.TargetNode),
    digest: sa.get(SA.ImageDigest),
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString(),
    url: workflowUrl(s, info.workflowId, info.runId),
  };
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined)) as unknown as StatusRow;
}

/** Running first, then the most recently started. */
export function sortRows(rows: StatusRow[]): StatusRow[] {
  return [...rows].sort((a, b) => {
    const ra = a.status === 'RUNNING' ? 0 : 1;
    const rb = b.status === 'RUNNING' ? 0 : 1;
    return ra - rb || b.startTime.localeCompare(a.startTime);
  });
}

function colourStatus(status: string, st: Style): string {
  if (status === 'RUNNING') return st.cyan(status);
  if (status === 'COMPLETED') return st.green(status);
  if (status === 'FAILED' || status === 'TIMED_OUT' || status === 'TERMINATED') return st.red(status);
  return st.yellow(status);
}

function colourPhase(phase: string | undefined, st: Style): string {
  if (!phase) return '-';
  if (phase === 'AwaitingApproval') return st.yellow(phase);
  if (phase === 'Failed') return st.red(phase);
  return phase;
}

/** The table of `tote status`. */
export function renderStatus(rows: StatusRow[], now: Date, st: Style): string {
  const cells = rows.map((r) => [
    r.workflowId,
    colourPhase(r.phase, st),
    r.podNamespace && r.podName ? `${r.podNamespace}/${r.podName}` : '-',
    r.node ?? '-',
    formatAge(new Date(r.startTime), now),
    colourStatus(r.status, st),
  ]);
  return renderTable(['WORKFLOW ID', 'PHASE', 'POD', 'NODE', 'STARTED', 'STATUS'], cells, st);
}

async function listRows(
  client: Client,
  query: string,
  limit: number,
  s: TemporalSettings,
): Promise<StatusRow[]> {
  const rows: StatusRow[] = [];
  for await (const info of client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
    rows.push(toRow(info, s));
    if (rows.length >= limit) break;
  }
  return rows;
}

async function runStatus(flags: StatusFlags, out: OutStream): Promise<void> {
  const since = new Date(Date.now() - parseDuration('--since', flags.since));
  const limit = parseCount('--limit', flags.limit, 1000);
  const pod = flags.pod ? parsePodArg(flags.pod) : undefined;
  const s = temporalSettings(flags, process.env);
  const query = visibilityQuery({ since, runningOnly: flags.running === true, pod, node: flags.node });
  const rows = sortRows(await withTemporal(s, ({ client }) => listRows(client, query, limit, s)));
  if (flags.json) return printJson(out, rows);
  if (rows.length === 0) {
    out.write(
      `No salvages ${flags.running ? 'running' : `running or started in the last ${flags.since}`}${pod ? ` for ${flags.pod}` : ''}.\n`,
    );
    return;
  }
  const st = makeStyle(useColor(out, process.env));
  out.write(renderStatus(rows, new Date(), st));
  const waiting = rows.filter((r) => r.phase === 'AwaitingApproval' && r.status === 'RUNNING');
  if (waiting.length > 0)
    out.write(`\n${waiting.length} waiting for approval: tote approve '<workflow id>' (or reject)\n`);
}

/** `tote status`. */
export function registerStatus(program: Command): void {
  const cmd = program
    .command('status')
    .description('List running and recent salvages (from Temporal visibility) as a table.')
    .option(
      '--since <duration>',
      'also list salvages that ended, started within this long (s, m, h, d)',
      '24h',
    )
    .option('--running', 'list running salvages only')
    .option('--pod <namespace/pod>', 'only the salvages for this pod')
    .option('--node <name>', 'only the salvages onto this node')
    .option('--limit <n>', 'list at most this many', '50')
    .option('--json', 'print the rows as a JSON array only');
  addTemporalOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Columns: workflow id (give it to "tote approve"), phase (SalvagePhase: Detecting, AwaitingApproval,
Transferring, Completed, Failed, ...), pod, target node, start time, and the Temporal status.

Examples:
  tote status
  tote status --running
  tote status --pod shop/web-7c9f8 --since 7d
  tote status --json | jq -r '.[] | select(.phase == "AwaitingApproval") | .workflowId'
`,
  );
  cmd.action((flags: StatusFlags) => runStatus(flags, process.stdout));
}
