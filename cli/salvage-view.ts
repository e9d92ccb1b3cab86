/**
 * How `tote salvage` shows a plan (`--dry-run`) and a result, for people and (`--json`) for scripts. Pure
 * functions of plain data, so the formats are unit-tested without Temporal or a cluster.
 */
import type { SalvagePlan, SalvageInput, SalvageProgress, SalvageResult } from '../workflows/index.js';
import { formatBytes, formatDuration, renderFields, renderTable, type Style } from './output.js';
import type { SalvageTarget, SkippedContainer } from './salvage-target.js';

/** Human words for where a digest came from. */
export const VIA_TEXT: Record<SalvageTarget['via'], string> = {
  reference: 'pinned in the pod spec',
  'pod-image-id': "the pod's status imageID",
  'other-pod-image-id': 'another pod running the same reference',
  'node-status-images': 'Node.status.images',
  agents: "a tote agent's containerd",
  registry: 'the registry',
  flag: '--digest',
};

/** A plan together with what it was made for. */
export interface PlannedSalvage {
  target: SalvageTarget;
  plan: SalvagePlan;
}

/** The machine-readable plan of one salvage (`--dry-run --json`). */
export function planJson(p: PlannedSalvage): Record<string, unknown> {
  const { input, via } = p.target;
  return {
    pod: `${input.pod.namespace}/${input.pod.name}`,
    container: input.container,
    reason: input.reason,
    image: input.imageRef,
    digestVia: via,
    wouldProceed: p.plan.problems.length === 0,
    ...p.plan,
  };
}

function sourcesTable(plan: SalvagePlan, st: Style): string {
  const rows = [...plan.sources, ...plan.skipped].map((s) => [
    s.node,
    s.endpoint ?? '-',
    s.complete ? st.green('complete') : s.endpoint ? st.yellow('incomplete') : st.dim('no agent'),
    s.sizeBytes > 0 ? formatBytes(s.sizeBytes) : '-',
    s.hinted ? 'listed' : '-',
  ]);
  if (rows.length === 0) return `  ${st.red('none')}: no node holds this digest\n`;
  const table = renderTable(['NODE', 'AGENT', 'HOLDS', 'SIZE', 'KUBELET'], rows, st);
  return table
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');
}

function transferLines(plan: SalvagePlan): Array<[string, string]> {
  const t = plan.transfer;
  if (plan.targetHasImage)
    return [['To move', `nothing: ${plan.targetNode} already holds the complete image`]];
  if (!t) return [['To move', 'unknown (no usable source and target agent pair)']];
  const exact = t.dedup === 'exact';
  const present = exact
    ? `${t.blobsPresent} blobs, ${formatBytes(t.bytesPresent)} already there (skipped)`
    : 'unknown: its agent cannot list its blobs, so no dedup is assumed';
  return [
    ['First source', `${t.source}: ${t.blobs} blobs, ${formatBytes(t.totalBytes)}`],
    ['On the target', present],
    [
      'To move',
      `${exact ? '' : 'at most '}${t.blobsToMove} blobs, ${formatBytes(t.bytesToMove)} (${t.bytesToMove} bytes)`,
    ],
  ];
}

function modeLine(plan: SalvagePlan): string {
  const mode = plan.policy?.mode;
  if (mode === 'approve') return 'approve: the salvage waits for "tote approve" (or run with --approve)';
  if (mode === 'detect-only') return 'detect-only: tote would only report';
  return mode ?? '-';
}

/** The human-readable plan of one salvage. */
export function renderPlan(p: PlannedSalvage, st: Style): string {
  const { input, via } = p.target;
  const { plan } = p;
  const head = `${st.bold('Plan')} for ${input.pod.namespace}/${input.pod.name}, container ${input.container ?? '?'} (${input.reason})\n`;
  const fields: Array<[string, string]> = [
    ['Image', input.imageRef],
    ['Digest', `${plan.digest} (from ${VIA_TEXT[via]})`],
    [
      'Target',
      `${plan.targetNode}${plan.targetEndpoint ? ` (agent ${plan.targetEndpoint})` : st.red(' (no agent)')}`,
    ],
    ['Mode', modeLine(plan)],
    ...transferLines(plan),
  ];
  const problems = plan.problems.length
    ? `${st.red('Would not go ahead:')}\n${plan.problems.map((x) => `  - ${x}\n`).join('')}`
    : `${st.green('Would go ahead.')} Run the same command without --dry-run to salvage.\n`;
  return `${head}${renderFields(fields, st)}Sources:\n${sourcesTable(plan, st)}${problems}`;
}

/** How one followed salvage ended. */
export interface SalvageOutcomeView {
  input: SalvageInput;
  workflowId: string;
  runId: string;
  url?: string;
  result?: SalvageResult;
  /** The failure message when the workflow failed. */
  error?: string;
  /** Wall time of the workflow (start to close). */
  durationMs?: number;
  /** The last progress seen, when the workflow failed. */
  progress?: SalvageProgress;
}

/** Whether an outcome counts as success: the image is on the node. */
export function succeeded(o: SalvageOutcomeView): boolean {
  return o.result?.outcome === 'salvaged' || o.result?.outcome === 'already-present';
}

const OUTCOME_TEXT: Record<string, string> = {
  salvaged: 'Salvaged',
  'already-present': 'Already present',
  detected: 'Only detected (detect-only mode): nothing was moved',
  rejected: 'Rejected by an operator: nothing was moved',
  'approval-timed-out': 'No approval in time: nothing was moved',
  'opt-in-withdrawn': 'Opt-in withdrawn (namespace annotation removed or pod gone): nothing was moved',
};

/** The machine-readable result of one salvage. */
export function outcomeJson(o: SalvageOutcomeView): Record<string, unknown> {
  return {
    pod: `${o.input.pod.namespace}/${o.input.pod.name}`,
    container: o.input.container,
    image: o.input.imageRef,
    digest: o.input.digest,
    node: o.input.node,
    workflowId: o.workflowId,
    runId: o.runId,
    ok: succeeded(o),
    outcome: o.result?.outcome ?? 'failed',
    source: o.result?.source,
    bytes: o.result?.bytes,
    podRestarted: o.result?.podRestarted,
    pushedTo: o.result?.pushedTo,
    durationMs: o.durationMs,
    error: o.error ?? o.result?.progress.error,
    progress: o.result?.progress ?? o.progress,
    url: o.url,
  };
}

function resultFields(r: SalvageResult): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (r.source) fields.push(['Source', r.source]);
  if (r.bytes !== undefined)
    fields.push(['Image size', `${formatBytes(r.bytes)} (${r.progress.blobsTotal} blobs)`]);
  if (r.podRestarted !== undefined) {
    const pod = r.podRestarted
      ? 'deleted: its controller recreates it now'
      : 'not restarted (no owner): kubelet retries the pull';
    fields.push(['Pod', pod]);
  }
  if (r.pushedTo) fields.push(['Backup', r.pushedTo]);
  return fields;
}

/** The human-readable result of one salvage. */
export function renderOutcome(o: SalvageOutcomeView, st: Style): string {
  const r = o.result;
  const title = r ? (OUTCOME_TEXT[r.outcome] ?? r.outcome) : 'Failed';
  const mark = succeeded(o) ? st.green(`✓ ${title}`) : st.red(`✗ ${title}`);
  const fields: Array<[string, string]> = [
    ['Image', `${o.input.imageRef} → ${o.input.node}`],
    ['Digest', o.input.digest],
    ...(r ? resultFields(r) : []),
  ];
  if (o.durationMs !== undefined) fields.push(['Duration', formatDuration(o.durationMs)]);
  const error = o.error ?? (succeeded(o) ? undefined : r?.progress.error);
  if (error) fields.push(['Error', st.red(error)]);
  fields.push(['Workflow', o.workflowId]);
  if (o.url) fields.push(['Web UI', o.url]);
  return `${mark} ${o.input.pod.namespace}/${o.input.pod.name} (${o.input.container ?? '?'})\n${renderFields(fields, st)}`;
}

/** The lines about containers that are not salvaged, for people. */
export function renderSkipped(skipped: SkippedContainer[], st: Style): string {
  return skipped
    .map((s) => `${st.yellow('skipped')} container ${s.container} (${s.reason}): ${s.why}\n`)
    .join('');
}
