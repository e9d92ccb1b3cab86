/**
 * What `tote scan` prints: one row per image in use (image, digest, registry copy, holders, action), the notes
 * that explain an `unknown` or a skipped push, and a summary; or, with `--json`, the workflow's report as is.
 */
import type { ScanReport, ScanRow } from '../common/last-copy.js';
import { makeStyle, renderTable, type Style } from './output.js';

/** Holder names shown in the table before `+N`. */
const NAMES_SHOWN = 3;

/** `sha256:0123456789ab`: enough of a digest to tell images apart in a table. */
export function shortDigest(digest: string | null): string {
  return digest ? digest.slice(0, 19) : '-';
}

function holderNames(holders: string[]): string {
  if (holders.length === 0) return '-';
  const shown = holders.slice(0, NAMES_SHOWN).join(',');
  return holders.length > NAMES_SHOWN ? `${shown},+${holders.length - NAMES_SHOWN}` : shown;
}

function registryCell(r: ScanRow, st: Style): string {
  if (r.registry === 'gone') return st.red('gone');
  if (r.registry === 'unknown') return st.yellow('unknown');
  return st.green('present');
}

function actionCell(r: ScanRow, st: Style): string {
  if (r.action === 'backed-up') return st.green('backed-up');
  if (r.action === 'push-failed') return st.red('push-failed');
  if (r.action === 'warned') return st.yellow('warned');
  return 'none';
}

/** The notes under the table: why a registry answer is unknown, why a push was skipped or failed. */
function notes(report: ScanReport): string[] {
  const lines = report.rows.flatMap((r) => {
    const why = [
      r.registry === 'unknown' ? r.registryDetail : undefined,
      r.note,
      r.backupRef && `pushed to ${r.backupRef}`,
    ];
    const text = why.filter(Boolean).join('; ');
    return text ? [`  ${r.image}: ${text}`] : [];
  });
  if (report.unreachableNodes.length > 0) {
    lines.push(
      `  agents not reachable on ${report.unreachableNodes.join(', ')}: their copies are not counted`,
    );
  }
  return lines;
}

/** The one-line summary after the table. */
export function scanSummaryLine(report: ScanReport): string {
  const atRisk = report.rows.filter((r) => r.atRisk).length;
  const backedUp = report.rows.filter((r) => r.action === 'backed-up').length;
  const where = report.namespace ? ` in ${report.namespace}` : '';
  const push = backedUp > 0 ? `, ${backedUp} backed up to ${report.backupRegistry ?? '?'}` : '';
  return `${report.rows.length} image${report.rows.length === 1 ? '' : 's'} in use by running pods${where}; ${atRisk} at risk (gone from the registry, on <= ${report.minCopies} node${report.minCopies === 1 ? '' : 's'})${push}.`;
}

/** The human report. */
export function renderScan(report: ScanReport, opts: { style?: Style; url?: string } = {}): string {
  const st = opts.style ?? makeStyle(false);
  if (report.rows.length === 0) {
    return `No running pods${report.namespace ? ` in ${report.namespace}` : ''}: nothing to scan.\n`;
  }
  const rows = report.rows.map((r) => [
    r.atRisk ? st.bold(r.image) : r.image,
    shortDigest(r.digest),
    registryCell(r, st),
    String(r.holders.length),
    holderNames(r.holders),
    actionCell(r, st),
  ]);
  const table = renderTable(['IMAGE', 'DIGEST', 'REGISTRY', 'HOLDERS', 'NODES', 'ACTION'], rows, st);
  const extra = notes(report);
  return [
    table,
    ...(extra.length > 0 ? [`${st.dim('Notes:')}\n${extra.join('\n')}\n`] : []),
    `${scanSummaryLine(report)}\n`,
    st.dim(`Workflow ${report.workflowId}${opts.url ? ` (${opts.url})` : ''}`) + '\n',
  ].join('\n');
}
