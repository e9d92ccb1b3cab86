/**
 * `tote approve <workflow-id>` and `tote reject <workflow-id>`: the operator's decision for a salvage waiting in
 * approve mode (docs/cli-reference.md), sent as the workflow's `approve` / `reject` signal. Checked first against the
 * workflow's description (exists, is a salvage, is running, is not past the approval step), so a typo or a stale
 * id gives a clear error and exit code 1 instead of a signal that nobody will ever read.
 */
import { hostname, userInfo } from 'node:os';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { approveSignal, rejectSignal } from '../workflows/index.js';
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
import { makeStyle, printJson, useColor, type OutStream } from './output.js';

/** The two decisions. */
export type Decision = 'approve' | 'reject';

/** Options of `tote approve` / `tote reject`. */
export interface DecideFlags extends TemporalFlags {
  by?: string;
  note?: string;
  json?: boolean;
}

/** Phases in which a decision still counts: the signal is buffered until the workflow asks for it. */
const DECIDABLE_PHASES = ['Detecting', 'AwaitingApproval'];

/** Who decides, for events and history: `user@host`, unless the environment hides the user. */
export function operatorName(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the host alone still says where the decision came from.
  }
  return `${user}@${hostname()}`;
}

/** A workflow id as the operator may paste it: trimmed; empty is refused. */
export function checkWorkflowId(id: string): string {
  const trimmed = id.trim();
  if (!trimmed)
    throw new UserError('give the workflow id, e.g. salvage/sha256:<digest>/<node> (see "tote status")');
  return trimmed;
}

/** Why a described workflow cannot take a decision, or undefined when it can. */
export function refusal(
  d: { type: string; status: string; phase?: string },
  id: string,
  decision: Decision,
): string | undefined {
  if (d.type !== 'salvageImage') {
    return `workflow ${id} is a ${d.type}, not a salvage; only salvageImage waits for approval`;
  }
  if (d.status !== 'RUNNING') {
    return `salvage ${id} is ${d.status.toLowerCase().replace(/_/g, ' ')}: there is nothing to ${decision} (see "tote status")`;
  }
  if (d.phase && !DECIDABLE_PHASES.includes(d.phase)) {
    return `salvage ${id} is not waiting for approval (phase ${d.phase}): its namespace is not in approve mode, or it was already decided`;
  }
  return undefined;
}

async function describeOrExplain(handle: WorkflowHandle, id: string, s: TemporalSettings) {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new UserError(
        `no workflow "${id}" in Temporal namespace ${s.namespace}; list salvages with "tote status"`,
      );
    }
    throw err;
  }
}

/** Sends the decision; resolves with what was done, for the output. */
async function decide(
  decision: Decision,
  rawId: string,
  flags: DecideFlags,
): Promise<Record<string, unknown>> {
  const id = checkWorkflowId(rawId);
  const s = temporalSettings(flags, process.env);
  const by = flags.by ?? operatorName();
  return withTemporal(s, async ({ client }) => {
    const handle = client.workflow.getHandle(id);
    const d = await describeOrExplain(handle, id, s);
    const phase = d.typedSearchAttributes.get(SA.SalvagePhase);
    const why = refusal({ type: d.type, status: d.status.name, phase }, id, decision);
    if (why) throw new UserError(why);
    try {
      await handle.signal(decision === 'approve' ? approveSignal : rejectSignal, {
        by,
        ...(flags.note ? { note: flags.note } : {}),
      });
    } catch (err) {
      // It closed between the describe and the signal.
      if (err instanceof WorkflowNotFoundError)
        throw new UserError(`salvage ${id} has just finished; nothing to ${decision}`);
      throw err;
    }
    return {
      workflowId: id,
      runId: d.runId,
      decision,
      by,
      note: flags.note,
      phase,
      url: workflowUrl(s, id, d.runId),
    };
  });
}

function report(out: OutStream, r: Record<string, unknown>, json: boolean | undefined): void {
  if (json) return printJson(out, r);
  const st = makeStyle(useColor(out, process.env));
  const done = r.decision === 'approve' ? st.green('Approved') : st.yellow('Rejected');
  const next =
    r.decision === 'approve'
      ? 'The salvage continues; follow it with "tote status".'
      : 'The salvage ends without changing anything; a Warning event on the pod says so.';
  out.write(`${done} ${st.bold(String(r.workflowId))} (by ${String(r.by)}).\n${next}\n`);
  if (r.url) out.write(`Web UI: ${String(r.url)}\n`);
}

function register(program: Command, decision: Decision): void {
  const verb = decision === 'approve' ? 'Approve' : 'Reject';
  const cmd = program
    .command(`${decision} <workflow-id>`)
    .description(`${verb} a salvage that waits in approve mode (sends the "${decision}" signal).`)
    .option('--by <name>', 'who decides, recorded in the workflow and the pod event (default: user@host)')
    .option('--note <text>', 'a short reason, recorded with the decision')
    .option('--json', 'print the result as JSON only');
  addTemporalOptions(cmd);
  cmd.addHelpText(
    'after',
    `
The workflow must be a running salvageImage whose phase is AwaitingApproval (or Detecting: the decision waits
until the workflow asks for it). Anything else exits 1 with the reason.

Examples:
  tote status                                     # find the id of the waiting salvage
  tote ${decision} 'salvage/sha256:4f1c…/node-2'${decision === 'reject' ? ' --note "registry is back"' : ''}
  tote ${decision} 'salvage/sha256:4f1c…/node-2' --temporal-address temporal.example:7233 --json
`,
  );
  cmd.action(async (id: string, flags: DecideFlags) => {
    report(process.stdout, await decide(decision, id, flags), flags.json);
  });
}

/** `tote approve` and `tote reject`. */
export function registerApprove(program: Command): void {
  register(program, 'approve');
  register(program, 'reject');
}
