/**
 * Following a started salvage for `tote salvage`: start (or join) it, poll its `progress` query and draw the bar
 * (with bytes and rate), tell the operator (or approve, with --approve) when it waits in approve mode, and
 * collect how it ended. Ctrl-C only stops the following: the salvage goes on in Temporal.
 */
import {
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { approveSignal, progressQuery, salvageImage, type SalvageProgress } from '../workflows/index.js';
import { salvageStartOptions } from '../workflows/start-options.js';
import { operatorName } from './approve.js';
import {
  firstLine,
  workflowUrl,
  type KubeFlags,
  type TemporalFlags,
  type TemporalSession,
} from './connect.js';
import { ProgressLine, RateMeter, type OutStream, type Style } from './output.js';
import type { SalvageTarget } from './salvage-target.js';
import type { SalvageOutcomeView } from './salvage-view.js';

/** Options of `tote salvage`. */
export interface SalvageFlags extends TemporalFlags, KubeFlags {
  dryRun?: boolean;
  json?: boolean;
  container?: string;
  digest?: string;
  approve?: boolean;
  wait: boolean;
  registryResolve?: boolean;
  planTimeout: string;
  pollInterval: string;
}

/** What one command run needs besides the flags. */
export interface SalvageCtx {
  flags: SalvageFlags;
  /** `--plan-timeout` and `--poll-interval`, validated before anything starts. */
  planTimeoutMs: number;
  pollMs: number;
  t: TemporalSession;
  out: OutStream;
  st: Style;
  /** Aborted on Ctrl-C: stop following, the salvage goes on. */
  detach: AbortSignal;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

/** The phase and bytes shown for a progress snapshot. */
function progressView(p: SalvageProgress, rate: number | undefined) {
  const note = p.source
    ? `from ${p.source}`
    : p.holders.length
      ? `holders: ${p.holders.join(', ')}`
      : undefined;
  return {
    phase: p.phase,
    bytesDone: p.bytesDone,
    bytesTotal: p.bytesTotal,
    rate,
    ...(note ? { note } : {}),
  };
}

/** Queries progress with a deadline: a workflow whose worker is down must not hang the command. */
async function queryProgress(
  client: Client,
  handle: WorkflowHandle<typeof salvageImage>,
): Promise<SalvageProgress | undefined> {
  try {
    return await client.withDeadline(Date.now() + 5_000, () => handle.query(progressQuery));
  } catch {
    return undefined;
  }
}

/** What {@link follow} has seen so far. */
interface Followed {
  line?: ProgressLine;
  meter: RateMeter;
  last?: SalvageProgress;
  /** Whether the operator was already told (or the salvage approved) for the approval wait. */
  asked: boolean;
}

async function show(
  ctx: SalvageCtx,
  handle: WorkflowHandle<typeof salvageImage>,
  f: Followed,
  p: SalvageProgress | undefined,
): Promise<void> {
  if (!p) return;
  f.last = p;
  f.meter.add(Date.now(), p.bytesDone);
  f.line?.update(progressView(p, f.meter.rate()));
  if (p.phase === 'AwaitingApproval' && !f.asked) {
    f.asked = true;
    await onApprovalWait(ctx, handle, f.line);
  }
}

/** Polls the progress query and draws it until the workflow closes or the operator detaches. */
export async function follow(
  ctx: SalvageCtx,
  handle: WorkflowHandle<typeof salvageImage>,
): Promise<SalvageProgress | undefined> {
  let closed = false;
  const result = handle.result().finally(() => (closed = true));
  result.catch(() => undefined); // awaited by the caller; only the flag matters here
  const f: Followed = {
    ...(ctx.flags.json ? {} : { line: new ProgressLine(ctx.out, ctx.st) }),
    meter: new RateMeter(),
    asked: false,
  };
  while (!closed && !ctx.detach.aborted) {
    await show(ctx, handle, f, await queryProgress(ctx.t.client, handle));
    await Promise.race([result.catch(() => undefined), sleep(ctx.pollMs, ctx.detach)]);
  }
  // One last look, so the line ends on the final phase and bytes rather than the last poll before the close.
  if (!ctx.detach.aborted) await show(ctx, handle, f, await queryProgress(ctx.t.client, handle));
  f.line?.done();
  return f.last;
}

async function onApprovalWait(
  ctx: SalvageCtx,
  handle: WorkflowHandle<typeof salvageImage>,
  line?: ProgressLine,
): Promise<void> {
  if (ctx.flags.approve) {
    await handle.signal(approveSignal, { by: operatorName(), note: 'tote salvage --approve' });
    return;
  }
  line?.done();
  if (!ctx.flags.json) {
    ctx.out.write(
      `The namespace is in approve mode: run "tote approve '${handle.workflowId}'" (or rerun with --approve).\n`,
    );
  }
}

/** Starts (or joins) the salvage of one target; says which unless `--json`. */
export async function start(
  ctx: SalvageCtx,
  target: SalvageTarget,
): Promise<WorkflowHandle<typeof salvageImage>> {
  const opts = salvageStartOptions(target.input, ctx.t.settings.taskQueue);
  const existing = await ctx.t.client.workflow
    .getHandle(opts.workflowId)
    .describe()
    .then((d) => d.status.name === 'RUNNING')
    .catch((err: unknown) => (err instanceof WorkflowNotFoundError ? false : Promise.reject(err)));
  const handle = await ctx.t.client.workflow.start(salvageImage, opts);
  if (!ctx.flags.json) {
    const how = existing ? 'Joined the running salvage' : 'Started salvage';
    ctx.out.write(`${how} ${ctx.st.bold(handle.workflowId)}\n`);
    const url = workflowUrl(ctx.t.settings, handle.workflowId, handle.firstExecutionRunId);
    if (url) ctx.out.write(`Web UI: ${url}\n`);
  }
  return handle;
}

/** How the followed salvage ended: its result, or its failure and last progress. */
export async function outcome(
  ctx: SalvageCtx,
  target: SalvageTarget,
  handle: WorkflowHandle<typeof salvageImage>,
  last?: SalvageProgress,
): Promise<SalvageOutcomeView> {
  const d = await handle.describe();
  const base = {
    input: target.input,
    workflowId: handle.workflowId,
    runId: d.runId,
    url: workflowUrl(ctx.t.settings, handle.workflowId, d.runId),
    ...(d.closeTime ? { durationMs: d.closeTime.getTime() - d.startTime.getTime() } : {}),
  };
  try {
    return { ...base, result: await handle.result() };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const progress = (await queryProgress(ctx.t.client, handle)) ?? last;
    return { ...base, error: firstLine(err.cause ?? err), ...(progress ? { progress } : {}) };
  }
}
