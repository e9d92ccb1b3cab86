/**
 * The fault suite's report: one row per salvage (the injected fault and its outcome), then every violation in
 * full, so a failing run can be read without its logs, and replayed from its seed.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CaseResult } from './case.js';
import type { Observation } from './watch.js';

/** Run-wide facts printed above the table. */
export interface ReportMeta {
  seed: number;
  salvages: number;
  total: number;
  nodes: number;
  chunkSize: string;
  startedAt: Date;
  durationMs: number;
  runDir: string;
  /** Problems found by the checks over the whole run (duplicate workflows, half-imports anywhere). */
  globalViolations: string[];
  /** Set when the run stopped early (environment failure). */
  aborted?: string;
}

const MiB = 1 << 20;

function mib(n: number | undefined): string {
  return n === undefined ? '?' : `${(n / MiB).toFixed(n < 10 * MiB ? 1 : 0)}`;
}

function secs(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`;
}

function observed(o: Observation | undefined): string {
  if (!o) return '-';
  const query =
    o.bytesTotal && o.bytesTotal > 0 ? `, query ${mib(o.bytesDone)}/${mib(o.bytesTotal)} MiB` : '';
  const target = o.onTarget !== undefined ? `, target ${mib(o.onTarget)} MiB` : '';
  return `${o.hit ? '' : 'MISSED: '}${o.phase ?? 'no workflow yet'}${query}${target} at ${secs(o.atMs)}`;
}

function outcome(r: CaseResult): string {
  const e = r.end;
  if (e.status === 'COMPLETED' && e.result) {
    const p = e.result.progress;
    const tries = p.attempts > 1 ? `, ${p.attempts} sources tried (${p.sourcesTried.join(', ')})` : '';
    const moved = r.transferSeconds !== undefined ? ` in ${r.transferSeconds.toFixed(1)} s` : '';
    return `${e.result.outcome} from ${e.result.source ?? '?'}${moved}${tries}${e.result.pushedTo ? ', backed up' : ', no backup'}`;
  }
  if (e.status === 'FAILED') return `failed (${e.failureType ?? '?'}): ${e.error ?? ''}`.replace(/\|/g, '/');
  return e.status;
}

function row(r: CaseResult): string {
  const p = r.plan;
  const f = p.fault;
  const planned = f.moment === 'mid-transfer' ? `mid-transfer @${Math.round(f.atFraction * 100)}%` : f.moment;
  const who = r.target?.node ? `${f.component} (${r.target.node})` : f.component;
  const down = r.injection
    ? `${secs(r.injection.downMs)} (delay ${secs(f.delayMs)})`
    : `delay ${secs(f.delayMs)}, not restarted`;
  const verdict =
    r.verdict === 'violation'
      ? `**VIOLATION** (${r.violations.length})`
      : r.verdict === 'salvaged'
        ? 'ok: complete, verified'
        : 'ok: clean failure';
  return `| ${p.name} | ${mib(r.imageBytes)} MiB / ${p.layers} layers | ${p.holders.join(',')} → ${p.target} | ${p.refKind} | ${who} | ${planned} → ${observed(r.observation)} | ${down} | ${outcome(r)} | ${secs(r.end.tookMs)} | ${verdict} |`;
}

function details(results: CaseResult[]): string[] {
  const out: string[] = [];
  for (const r of results.filter((x) => x.violations.length > 0 || x.notes.length > 0)) {
    out.push(
      `### ${r.plan.name} (${r.plan.namespace}, pod ${r.pod})`,
      '',
      `- workflow \`${r.workflowId}\`, ${r.runs} run(s); kubelet reported ${r.kubeletReason ?? 'nothing'}`,
    );
    for (const v of r.violations) out.push(`- VIOLATION: ${v}`);
    for (const n of r.notes) out.push(`- note: ${n}`);
    out.push('');
  }
  return out;
}

/** Renders the markdown report. */
export function renderReport(meta: ReportMeta, results: CaseResult[]): string {
  const count = (v: CaseResult['verdict']): number => results.filter((r) => r.verdict === v).length;
  const replay = `TOTE_FAULT_SEED=${meta.seed}${meta.salvages === meta.total ? '' : ` TOTE_FAULT_SALVAGES=${meta.salvages}`} npm run test:faults`;
  const lines = [
    `# tote fault suite — seed ${meta.seed}`,
    '',
    `- Salvages: ${results.length} run of ${meta.salvages} planned (full plan: ${meta.total}); ${meta.nodes} nodes; agent --chunk-size ${meta.chunkSize}`,
    `- Started ${meta.startedAt.toISOString()}, took ${secs(meta.durationMs)} (${(meta.durationMs / 60000).toFixed(1)} min)`,
    `- Outcomes: ${count('salvaged')} salvaged (complete, verified, and the pod Running on its node from the digest), ${count('failed')} failed cleanly (ImageSalvageFailed event, no SalvageRecord, nothing half-imported), ${count('violation')} with violations`,
    `- Run-wide checks: ${meta.globalViolations.length === 0 ? 'ok (one workflow per (digest, node), no half-imported record on any node)' : `${meta.globalViolations.length} violation(s)`}`,
    ...(meta.aborted ? [`- ABORTED: ${meta.aborted}`] : []),
    `- Replay: \`${replay}\``,
    `- Logs: ${meta.runDir}/logs`,
    '',
    '| salvage | image | holders → target | ref | killed | moment (planned → observed at kill) | down | outcome | pod failure → end | verdict |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...results.map(row),
    '',
  ];
  if (meta.globalViolations.length > 0)
    lines.push('## Run-wide violations', '', ...meta.globalViolations.map((v) => `- ${v}`), '');
  const d = details(results);
  if (d.length > 0) lines.push('## Details', '', ...d);
  return lines.join('\n');
}

/** Writes the report to `<runsRoot>/faults-report-<seed>.md`; returns the path. */
export function writeReport(runsRoot: string, meta: ReportMeta, text: string): string {
  const file = path.join(runsRoot, `faults-report-${meta.seed}.md`);
  writeFileSync(file, text);
  return file;
}
