/**
 * Watching a salvage from the outside, as an operator would: the `progress` query for the moment to strike, and
 * `describe` for the end. Every call tolerates a Temporal that is down or restarting.
 */
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { progressQuery, type SalvageProgress, type SalvageResult } from '../../workflows/index.js';
import { sleep, within, type FaultEnv } from './env.js';
import type { BytesOnNode } from './checks.js';
import type { FaultSpec } from './plan.js';

const BEFORE: readonly string[] = ['Detecting', 'AwaitingApproval', 'CheckingOptIn', 'Locating'];
const AFTER: readonly string[] = ['Verifying', 'Recording', 'Restarting', 'Pushing', 'Notifying'];
const TERMINAL: readonly string[] = ['Completed', 'Failed'];

/** What the progress query (and the target's content store) showed when the fault was fired. */
export interface Observation {
  /** The planned moment was hit (false: the salvage had already moved past it, or the wait timed out). */
  hit: boolean;
  phase?: string;
  /** Bytes done according to the progress query. */
  bytesDone?: number;
  bytesTotal?: number;
  /** Bytes of the image on the target (committed blobs plus open ingests) at the kill. */
  onTarget?: number;
  source?: string;
  holders?: string[];
  /** Milliseconds from the pod's failure to the kill. */
  atMs: number;
}

/** The progress query, or undefined when the workflow does not exist yet or Temporal/the worker cannot answer. */
export async function queryProgress(env: FaultEnv, workflowId: string): Promise<SalvageProgress | undefined> {
  try {
    return await within(
      env.client().workflow.getHandle(workflowId).query(progressQuery),
      3000,
      'progress query',
    );
  } catch {
    return undefined;
  }
}

/** One look at the salvage: the progress query and the target's bytes. */
interface Sample {
  p?: SalvageProgress;
  t?: BytesOnNode;
}

function observe(s: Sample, hit: boolean, since: number): Observation {
  const { p, t } = s;
  return {
    hit,
    phase: p?.phase,
    bytesDone: p?.bytesDone,
    bytesTotal: p?.bytesTotal,
    onTarget: t ? t.committed + t.active : undefined,
    source: p?.source,
    holders: p?.holders,
    atMs: Date.now() - since,
  };
}

/**
 * Mid-transfer: the progress query says Transferring and the planned share of the bytes is in, by the query's
 * count or (finer: the query is refreshed every couple of seconds) by what the target's content store holds.
 */
function midReached({ p, t }: Sample, fraction: number, totalBytes: number): boolean {
  if (!t || t.complete || p?.phase !== 'Transferring') return false;
  return Math.max(p.bytesDone, t.committed + t.active) >= fraction * totalBytes;
}

/** After the transfer: every blob is committed on the target and the workflow has not ended. */
function afterReached({ p, t }: Sample): boolean {
  if (!p) return false;
  return AFTER.includes(p.phase) || (p.phase === 'Transferring' && t?.complete === true);
}

/** Past the planned moment already: no later poll can hit it. */
function missed({ p, t }: Sample, spec: FaultSpec): boolean {
  if (!p) return false;
  if (TERMINAL.includes(p.phase)) return true;
  if (spec.moment === 'mid-transfer') return AFTER.includes(p.phase) || t?.complete === true;
  return false;
}

/** Options of {@link awaitMoment}. */
export interface MomentOptions {
  workflowId: string;
  spec: FaultSpec;
  /** When the pod failed (ms since the epoch). */
  since: number;
  timeoutMs: number;
  /** Bytes of the whole image. */
  totalBytes: number;
  /** Reads the image's bytes on the target node. */
  onTarget(): Promise<BytesOnNode>;
}

async function sample(env: FaultEnv, o: MomentOptions, withTarget = true): Promise<Sample> {
  const [p, t] = await Promise.all([
    queryProgress(env, o.workflowId),
    withTarget ? o.onTarget().catch(() => undefined) : undefined,
  ]);
  return { p, t };
}

/**
 * Before the transfer. The controller is killed a jitter after the pod failed, before or just as it starts the
 * workflow; anything else as soon as the workflow shows a phase before Transferring (detecting, locating…).
 */
async function beforeTransfer(env: FaultEnv, o: MomentOptions): Promise<Observation> {
  const { spec, since } = o;
  if (spec.component === 'controller') {
    await sleep(spec.jitterMs);
    const s = await sample(env, o, false);
    return observe(s, !s.p || BEFORE.includes(s.p.phase), since);
  }
  const deadline = Date.now() + o.timeoutMs;
  let s: Sample = {};
  while (Date.now() < deadline) {
    s = await sample(env, o, false);
    if (s.p) return observe(s, BEFORE.includes(s.p.phase), since);
    await sleep(20);
  }
  return observe(s, false, since);
}

/**
 * Resolves at the fault's moment: before the transfer (see {@link beforeTransfer}); `mid-transfer` once the
 * planned share of the bytes is on the target; `after-transfer` once all bytes are in and the workflow is
 * verifying, recording, restarting or pushing. Resolves early (hit false) if the salvage moved past the moment.
 */
export async function awaitMoment(env: FaultEnv, o: MomentOptions): Promise<Observation> {
  const { spec, since } = o;
  if (spec.moment === 'before-transfer') return beforeTransfer(env, o);
  const deadline = Date.now() + o.timeoutMs;
  let last: Sample = {};
  while (Date.now() < deadline) {
    const s = await sample(env, o);
    last = s.p ? s : { ...last, t: s.t };
    const reached =
      spec.moment === 'mid-transfer' ? midReached(s, spec.atFraction, o.totalBytes) : afterReached(s);
    if (reached) return observe(s, true, since);
    if (missed(s, spec)) return observe(s, false, since);
    await sleep(50);
  }
  return observe(last, false, since);
}

/** How a salvage workflow ended, as the suite saw it. */
export interface End {
  /** Temporal's status (COMPLETED, FAILED, …), NOT_STARTED when no workflow appeared, STUCK when still running. */
  status: string;
  result?: SalvageResult;
  /** The failure's message and type, for FAILED. */
  error?: string;
  failureType?: string;
  /** For STUCK: the phase and the pending activities (type, attempt, state, last failure). */
  stuckIn?: string;
  /** Milliseconds from the pod's failure to the end. */
  tookMs: number;
}

function rootCause(err: WorkflowFailedError): { message: string; type?: string } {
  let c: unknown = err.cause;
  while (c instanceof Error && c.cause instanceof Error) c = c.cause;
  return { message: c instanceof Error ? c.message : String(c), type: (c as { type?: string })?.type };
}

async function closed(env: FaultEnv, workflowId: string, status: string): Promise<Omit<End, 'tookMs'>> {
  const handle = env.client().workflow.getHandle(workflowId);
  if (status !== 'COMPLETED' && status !== 'FAILED') return { status };
  try {
    return { status, result: (await handle.result()) as SalvageResult };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = rootCause(err);
    return { status, error: cause.message, failureType: cause.type };
  }
}

async function pendingSummary(env: FaultEnv, workflowId: string): Promise<string> {
  const d = await env.client().workflow.getHandle(workflowId).describe();
  const phase = (await queryProgress(env, workflowId))?.phase ?? '?';
  const acts = (d.raw.pendingActivities ?? []).map(
    (a) =>
      `${a.activityType?.name ?? '?'} attempt ${a.attempt ?? '?'} state ${String(a.state)}${a.lastFailure?.message ? ` (last failure: ${a.lastFailure.message})` : ''}`,
  );
  return `phase ${phase}; pending: ${acts.join('; ') || 'none'}`;
}

/**
 * Polls `describe` until the workflow is closed. Gives up with NOT_STARTED when it never appears within
 * `startTimeoutMs`, and with STUCK when it is still running `stuckAfterMs` after `faultDone()` became true.
 */
export async function awaitEnd(
  env: FaultEnv,
  opts: {
    workflowId: string;
    since: number;
    startTimeoutMs: number;
    stuckAfterMs: number;
    faultDoneAt: () => number | undefined;
    /** Hard cap, whatever happens (e.g. Temporal never comes back). */
    maxMs: number;
  },
): Promise<End> {
  const { workflowId, since } = opts;
  for (;;) {
    const now = Date.now();
    if (now - since > opts.maxMs)
      return { status: 'STUCK', stuckIn: `no end within ${opts.maxMs} ms`, tookMs: now - since };
    try {
      const d = await within(env.client().workflow.getHandle(workflowId).describe(), 10_000, 'describe');
      if (d.status.name !== 'RUNNING')
        return { ...(await closed(env, workflowId, d.status.name)), tookMs: now - since };
      const doneAt = opts.faultDoneAt();
      if (doneAt !== undefined && now - doneAt > opts.stuckAfterMs)
        return { status: 'STUCK', stuckIn: await pendingSummary(env, workflowId), tookMs: now - since };
    } catch (err) {
      if (
        err instanceof WorkflowNotFoundError &&
        now - since > opts.startTimeoutMs &&
        opts.faultDoneAt() !== undefined
      )
        return { status: 'NOT_STARTED', tookMs: now - since };
      if (!(err instanceof WorkflowNotFoundError)) await env.reconnect().catch(() => undefined);
    }
    await sleep(500);
  }
}
