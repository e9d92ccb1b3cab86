/**
 * `tote salvage <namespace>/<pod>`: salvage one pod now, as an explicit operator action. Reads the pod through the
 * kube API, finds its failing containers and their digests, then either prints the plan (`--dry-run`, the
 * `planSalvage` workflow) or starts `salvageImage` under its deterministic id (joining a salvage that already
 * runs for the same digest and node), draws its progress and prints the result.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { DENIED_NAMESPACES } from '../common/names.js';
import { planSalvage, resolveImage } from '../workflows/index.js';
import { resolveStartOptions, salvageStartOptions } from '../workflows/start-options.js';
import { operatorName } from './approve.js';
import {
  addKubeOptions,
  addTemporalOptions,
  firstLine,
  loadKubeConfig,
  temporalSettings,
  withTemporal,
} from './connect.js';
import { UserError } from './errors.js';
import { makeStyle, printJson, useColor, type OutStream } from './output.js';
import { follow, outcome, start, type SalvageCtx, type SalvageFlags } from './salvage-follow.js';
import {
  chooseTargets,
  parsePodArg,
  readPodFacts,
  refuseDeniedNamespace,
  type SalvageTarget,
  type TargetChoice,
} from './salvage-target.js';
import {
  outcomeJson,
  planJson,
  renderOutcome,
  renderPlan,
  renderSkipped,
  succeeded,
  type PlannedSalvage,
  type SalvageOutcomeView,
} from './salvage-view.js';
import { parseDuration } from './status.js';

export type { SalvageFlags } from './salvage-follow.js';

/** Warns (or, for a plan, fails) when no worker polls the task queue: nothing would happen. */
async function checkWorker(ctx: SalvageCtx): Promise<void> {
  const { client, settings } = ctx.t;
  const res = await client.workflowService.describeTaskQueue({
    namespace: settings.namespace,
    taskQueue: { name: settings.taskQueue, kind: 1 },
    taskQueueType: 1,
  });
  if ((res.pollers ?? []).length > 0) return;
  const msg = `no tote worker polls task queue "${settings.taskQueue}" in Temporal namespace ${settings.namespace}; start "tote worker" or check --task-queue`;
  if (ctx.flags.dryRun) throw new UserError(msg);
  process.stderr.write(`tote: warning: ${msg}; the salvage starts when a worker comes up\n`);
}

/** Resolves the tags the cluster could not through the `resolveImage` workflow (agents, then registry). */
async function resolveRemote(ctx: SalvageCtx, choice: TargetChoice): Promise<SalvageTarget[]> {
  const found: SalvageTarget[] = [];
  for (const u of choice.unresolved) {
    const opts = resolveStartOptions(
      { reference: u.reference, registryResolve: ctx.flags.registryResolve === true },
      ctx.t.settings.taskQueue,
    );
    const r = await ctx.t.client.workflow.execute(resolveImage, opts);
    if (r.digest === null) {
      choice.skipped.push({
        container: u.failure.container,
        reason: u.failure.reason,
        why: `no digest for ${u.reference} (tried the pod, other pods, Node.status.images, ${r.tried.join(', ')}); give it with --digest${ctx.flags.registryResolve ? '' : ' or allow --registry-resolve'}`,
      });
      continue;
    }
    const target = { via: r.via, input: { ...u.input, digest: r.digest } };
    if (!found.some((t) => t.input.digest === r.digest && t.input.node === u.input.node)) found.push(target);
  }
  return found;
}

async function planOne(ctx: SalvageCtx, target: SalvageTarget): Promise<PlannedSalvage> {
  const { input } = target;
  try {
    const plan = await ctx.t.client.workflow.execute(planSalvage, {
      taskQueue: ctx.t.settings.taskQueue,
      workflowId: `plan/${input.digest}/${input.node}/${randomUUID().slice(0, 8)}`,
      args: [{ digest: input.digest, node: input.node, pod: input.pod }],
      workflowExecutionTimeout: ctx.planTimeoutMs,
      staticSummary: `Plan: salvage ${input.imageRef} onto ${input.node} for ${input.pod.namespace}/${input.pod.name} (dry run)`,
    });
    return { target, plan };
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      throw new UserError(
        `planning failed: ${firstLine(err.cause ?? err)}; is a tote worker with the planSalvage workflow polling "${ctx.t.settings.taskQueue}"? (--plan-timeout ${ctx.flags.planTimeout})`,
      );
    }
    throw err;
  }
}

async function salvageAll(ctx: SalvageCtx, targets: SalvageTarget[]): Promise<SalvageOutcomeView[]> {
  const handles = [];
  for (const target of targets) handles.push({ target, handle: await start(ctx, target) });
  if (!ctx.flags.wait) return [];
  const outcomes: SalvageOutcomeView[] = [];
  for (const { target, handle } of handles) {
    const last = await follow(ctx, handle);
    if (ctx.detach.aborted) {
      throw new UserError(
        `detached: the salvage goes on in Temporal; follow it with "tote status" (workflow ${handle.workflowId})`,
        130,
      );
    }
    const o = await outcome(ctx, target, handle, last);
    outcomes.push(o);
    if (!ctx.flags.json) ctx.out.write(renderOutcome(o, ctx.st));
  }
  return outcomes;
}

async function dryRun(ctx: SalvageCtx, targets: SalvageTarget[], choice: TargetChoice): Promise<void> {
  const plans = await Promise.all(targets.map((t) => planOne(ctx, t)));
  if (ctx.flags.json) printJson(ctx.out, { plans: plans.map(planJson), skipped: choice.skipped });
  else for (const p of plans) ctx.out.write(renderPlan(p, ctx.st));
  const blocked = plans.flatMap((p) => p.plan.problems);
  if (blocked.length > 0) throw new UserError(`the salvage would not go ahead: ${blocked.join('; ')}`);
}

async function run(ctx: SalvageCtx, choice: TargetChoice): Promise<void> {
  const targets = [...choice.targets, ...(await resolveRemote(ctx, choice))];
  if (!ctx.flags.json && choice.skipped.length) ctx.out.write(renderSkipped(choice.skipped, ctx.st));
  if (targets.length === 0)
    throw new UserError('no container of this pod can be salvaged (see the reasons above)');
  await checkWorker(ctx);
  if (ctx.flags.dryRun) return dryRun(ctx, targets, choice);
  const outcomes = await salvageAll(ctx, targets);
  if (!ctx.flags.wait) {
    if (ctx.flags.json)
      printJson(ctx.out, { started: targets.map((t) => salvageStartOptions(t.input).workflowId) });
    return;
  }
  if (ctx.flags.json) printJson(ctx.out, { salvages: outcomes.map(outcomeJson), skipped: choice.skipped });
  const failed = outcomes.filter((o) => !succeeded(o));
  if (failed.length > 0) {
    const why = failed
      .map((o) => `${o.input.container ?? '?'}: ${o.error ?? o.result?.outcome ?? 'failed'}`)
      .join('; ');
    throw new UserError(
      `salvage did not complete (${why}); details: temporal workflow show -w '${failed[0]?.workflowId}'`,
    );
  }
}

/** Runs `tote salvage`; Ctrl-C detaches (exit 130) and leaves the salvage running in Temporal. */
export async function runSalvage(
  podArg: string,
  flags: SalvageFlags,
  out: OutStream = process.stdout,
): Promise<void> {
  const arg = parsePodArg(podArg);
  refuseDeniedNamespace(arg.namespace);
  const planTimeoutMs = parseDuration('--plan-timeout', flags.planTimeout);
  const pollMs = parseDuration('--poll-interval', flags.pollInterval);
  const settings = temporalSettings(flags, process.env);
  const kc = loadKubeConfig(flags);
  const facts = await readPodFacts(kc, arg);
  const choice = await chooseTargets(facts, arg, {
    container: flags.container,
    digest: flags.digest,
    requestedBy: operatorName(),
  });
  const ac = new AbortController();
  const onInt = (): void => ac.abort();
  process.once('SIGINT', onInt);
  try {
    await withTemporal(settings, (t) =>
      run(
        {
          flags,
          planTimeoutMs,
          pollMs,
          t,
          out,
          st: makeStyle(useColor(out, process.env)),
          detach: ac.signal,
        },
        choice,
      ),
    );
  } finally {
    process.off('SIGINT', onInt);
  }
}

/** `tote salvage`. */
export function registerSalvage(program: Command): void {
  const cmd = program
    .command('salvage <namespace/pod>')
    .description(
      'Salvage one pod now: copy its image from a node that caches it onto its node, with progress.',
    )
    .option('--dry-run', 'show the plan (digest, sources, bytes to move after dedup) and change nothing')
    .option('--json', 'print machine-readable JSON only (no progress bar)')
    .option('--container <name>', 'only this container (default: every container waiting on its image)')
    .option('--digest <sha256:…>', 'the digest to salvage, when the pod does not say it (tag-only image)')
    .option('--approve', 'in an approve-mode namespace, approve the salvage too (as "tote approve" would)')
    .option('--no-wait', 'start the salvage and return at once (prints the workflow id)')
    .option('--registry-resolve', "also ask the image's registry for a tag's digest (agents first)")
    .option('--plan-timeout <duration>', 'give up on the dry-run plan after this long', '60s')
    .option('--poll-interval <duration>', 'how often the progress is refreshed', '1s');
  addTemporalOptions(cmd);
  addKubeOptions(cmd);
  cmd.addHelpText(
    'after',
    `
An explicit operator action: the pod (and its owners) need not carry tote.dev/auto-salvage, but
its namespace must still allow tote (tote.dev/allow: "true"): that annotation is the namespace
owners' consent. ${DENIED_NAMESPACES.join(', ')} are always refused. In an approve-mode
namespace the salvage waits for "tote approve" unless --approve is given. A salvage already
running for the same digest and node is joined, not duplicated.

Exit codes: 0 the image is on the node (salvaged or already there; for --dry-run: the salvage
would go ahead); 1 anything else (not found, refused, no source, failed, rejected, detect-only);
130 detached with Ctrl-C (the salvage goes on in Temporal).

Examples:
  tote salvage shop/web-7c9f8-x2x4q --dry-run
  tote salvage shop/web-7c9f8-x2x4q
  tote salvage shop/web-7c9f8-x2x4q --container sidecar --digest sha256:4f1c…
  tote salvage shop/web-7c9f8-x2x4q --json --temporal-address temporal.example:7233 --kubeconfig ~/.kube/prod
`,
  );
  cmd.action((pod: string, flags: SalvageFlags) => runSalvage(pod, flags));
}
