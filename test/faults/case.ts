/**
 * One salvage of the fault suite, end to end through the controller on real kubelets: build an image that runs,
 * cache it on the planned holders, apply an opted-in Deployment pinned to the target (whose kubelet fails to pull
 * it from the lost registry), fire the planned fault at its moment, wait for the salvage to end, and check what it
 * left behind. A salvage counts only when the Deployment's pod runs on the target from the salvaged digest.
 */
import { salvageWorkflowId } from '../../common/names.js';
import { buildImage, importToNode, type BuiltImage } from '../harness/images.js';
import { createNamespace } from '../harness/pods.js';
import { waitFor } from '../harness/ports.js';
import {
  applyDeployment,
  awaitKubeletFailure,
  awaitRunning,
  type KubeletFailure,
} from '../harness/workloads.js';
import {
  brokenRecords,
  bytesOnNode,
  deleteDeployment,
  podEvents,
  podGone,
  retriesInHistory,
  salvageRecords,
  targetImage,
  workflowRuns,
  type BrokenRecord,
  type ManifestCache,
  type RunView,
} from './checks.js';
import type { FaultEnv } from './env.js';
import { inject, type FaultTarget, type Injection } from './injector.js';
import type { SalvagePlan } from './plan.js';
import { awaitEnd, awaitMoment, type End, type Observation } from './watch.js';

/** Limits of one case. */
export interface CaseLimits {
  /** How long the watcher waits for the moment before firing anyway. @default 180000 */
  momentTimeoutMs?: number;
  /** A salvage still running this long after the component is back is reported STUCK. @default 300000 */
  stuckAfterMs?: number;
  /** Hard cap of one case. @default 900000 */
  maxMs?: number;
}

/** Everything the report needs about one salvage. */
export interface CaseResult {
  plan: SalvagePlan;
  digest: string;
  imageBytes: number;
  imageRef: string;
  workflowId: string;
  pod: string;
  target?: FaultTarget;
  observation?: Observation;
  injection?: Injection;
  injectionError?: string;
  end: End;
  /** `salvaged` (complete and verified), `failed` (clean failure with its event), or `violation`. */
  verdict: 'salvaged' | 'failed' | 'violation';
  violations: string[];
  /** Facts worth reading that are not violations (e.g. the event text of a failure). */
  notes: string[];
  runs: number;
  /** Duration of the transfer as the SalvageRecord states it. */
  transferSeconds?: number;
  /** What kubelet reported for the pod before the salvage (its reason). */
  kubeletReason?: string;
}

interface Prepared {
  img: BuiltImage;
  imageRef: string;
  workflowId: string;
}

const REGISTRY = 'registry.gone.test';
const APP = 'app';

/** Builds the image, caches it on the holders (the kubelets report it) and applies the Deployment. */
async function prepare(env: FaultEnv, plan: SalvagePlan): Promise<Prepared> {
  const img = await buildImage(env.sb.run, {
    layers: plan.layers,
    layerSize: plan.layerSize,
    seed: plan.imageSeed,
    name: plan.name,
    app: {},
  });
  const repo = `${REGISTRY}/${plan.namespace}/${APP}`;
  for (const holder of plan.holders) {
    await importToNode(env.sb.node(holder), img, `${repo}:1.0`);
    await env.sb.syncNodeImages(holder);
  }
  const imageRef = plan.refKind === 'tag' ? `${repo}:1.0` : `${repo}@${img.digest}`;
  await createNamespace(env.admin, plan.namespace, { 'tote.dev/allow': 'true' });
  await applyDeployment(env.admin, {
    namespace: plan.namespace,
    name: APP,
    node: plan.target,
    image: imageRef,
    podAnnotations: { 'tote.dev/auto-salvage': 'true' },
  });
  return { img, imageRef, workflowId: salvageWorkflowId(img.digest, plan.target) };
}

/** The process to kill: agents are picked from what the salvage is doing at that moment. */
function faultTarget(plan: SalvagePlan, obs: Observation): FaultTarget {
  const { component } = plan.fault;
  if (component === 'target-agent') return { component, node: plan.target };
  if (component === 'source-agent')
    return { component, node: obs.source ?? obs.holders?.[0] ?? plan.holders[0] };
  return { component };
}

/** Record names kubelet looks the image up by: `repo@digest`, `repo:tag` for a tag, and the `sha256:<config>` id. */
function expectedRecords(p: Prepared, plan: SalvagePlan): string[] {
  const repo = `${REGISTRY}/${plan.namespace}/${APP}`;
  const names = [`${repo}@${p.img.digest}`, ...p.img.configDigests];
  if (plan.refKind === 'tag') names.push(`${repo}:1.0`);
  return names;
}

async function checkSalvaged(
  env: FaultEnv,
  plan: SalvagePlan,
  p: Prepared,
  pod: string,
  end: End,
): Promise<{ violations: string[]; transferSeconds?: number }> {
  const v: string[] = [];
  const blobs = [p.img.digest, ...p.img.configDigests, ...p.img.layerDigests];
  const onTarget = await targetImage(env.sb.node(plan.target), p.img.digest, blobs);
  const absent = expectedRecords(p, plan).filter((n) => !onTarget.records.includes(n));
  if (absent.length > 0) v.push(`image records missing on ${plan.target}: ${absent.join(', ')}`);
  if (onTarget.missingBlobs.length > 0)
    v.push(`blobs missing on ${plan.target}: ${onTarget.missingBlobs.join(', ')}`);
  const records = await salvageRecords(env.admin, plan.namespace);
  if (records.length !== 1)
    v.push(`${records.length} SalvageRecords (want exactly 1): ${records.map((r) => r.name).join(', ')}`);
  const rec = records[0];
  if (rec && (rec.spec.digest !== p.img.digest || rec.spec.targetNode !== plan.target))
    v.push(`SalvageRecord ${rec.name} names ${rec.spec.digest} → ${rec.spec.targetNode}`);
  const events = (await podEvents(env.admin, plan.namespace, pod)).map((e) => e.reason);
  if (!events.includes('ImageSalvaged'))
    v.push(`no ImageSalvaged event (events: ${events.join(', ') || 'none'})`);
  if (events.includes('ImageSalvageFailed'))
    v.push('an ImageSalvageFailed event on a salvage that completed');
  if (end.result?.podRestarted !== true || !(await podGone(env.admin, plan.namespace, pod)))
    v.push('the owned pod was not deleted for a restart');
  // The proof: the Deployment's replacement pod runs on the target from the salvaged digest.
  await awaitRunning(env.admin, plan.namespace, APP, {
    node: plan.target,
    digest: p.img.digest,
    timeoutMs: 120_000,
  }).catch((err: unknown) =>
    v.push(`no pod of the Deployment runs on ${plan.target} from the digest: ${String(err)}`),
  );
  const secs = rec?.status.durationSeconds;
  return { violations: v, transferSeconds: typeof secs === 'number' ? secs : undefined };
}

async function checkFailed(
  env: FaultEnv,
  plan: SalvagePlan,
  pod: string,
  notes: string[],
): Promise<string[]> {
  const v: string[] = [];
  const failed = await waitFor(
    'the ImageSalvageFailed event',
    async () =>
      (await podEvents(env.admin, plan.namespace, pod)).find((e) => e.reason === 'ImageSalvageFailed') ??
      false,
    60_000,
  ).catch(() => undefined);
  if (failed) notes.push(`event ${failed.type}/${failed.reason}: ${failed.note}`);
  else v.push('failed without an ImageSalvageFailed event');
  const records = await salvageRecords(env.admin, plan.namespace);
  if (records.length > 0) v.push(`${records.length} SalvageRecord(s) for a failed salvage`);
  // The pod stays broken; take the Deployment away so its pods cannot start a second salvage during later cases.
  await deleteDeployment(env.admin, plan.namespace, APP);
  return v;
}

/** Integrity over every node: no image record anywhere may point at incomplete content. */
export async function halfImported(env: FaultEnv, cache: ManifestCache): Promise<BrokenRecord[]> {
  const all = await Promise.all(env.sb.nodes.map((n) => brokenRecords(n, cache)));
  return all.flat();
}

/** A salvage that never ended: terminate it and take the pod away so it cannot act during later cases. */
async function giveUp(env: FaultEnv, plan: SalvagePlan, p: Prepared, end: End): Promise<string[]> {
  const notes: string[] = [];
  if (end.status === 'STUCK') {
    await env
      .withClient((c) => c.workflow.getHandle(p.workflowId).terminate('fault suite: stuck, see the report'))
      .then(() => notes.push('terminated by the suite after it was reported STUCK'))
      .catch((err: unknown) => notes.push(`could not terminate: ${String(err)}`));
  }
  await deleteDeployment(env.admin, plan.namespace, APP);
  return notes;
}

async function listRuns(env: FaultEnv, workflowId: string): Promise<RunView[]> {
  // Visibility is written asynchronously: give a just-closed run a moment to show up.
  return waitFor(
    `visibility of ${workflowId}`,
    async () => {
      const runs = await env.withClient((c) => workflowRuns(c, workflowId));
      return runs.length > 0 ? runs : false;
    },
    30_000,
  ).catch(() => []);
}

function describeRuns(runs: RunView[]): string {
  const t = (ms?: number): string => (ms ? new Date(ms).toISOString().slice(11, 23) : 'open');
  return runs.map((r) => `${r.status} ${t(r.startTime)}→${t(r.closeTime)} (run ${r.runId})`).join('; ');
}

/** Every blob of a (single- or multi-platform) image with its size. */
function imageBlobs(img: BuiltImage): { digest: string; size: number }[] {
  const all = new Map<string, number>([[img.digest, img.size]]);
  for (const pl of img.platforms)
    for (const d of [pl.manifest, pl.config, ...pl.layers]) all.set(d.digest, d.size);
  return [...all].map(([digest, size]) => ({ digest, size }));
}

async function fireFault(
  env: FaultEnv,
  plan: SalvagePlan,
  p: Prepared,
  since: number,
  limits: CaseLimits,
): Promise<Pick<CaseResult, 'observation' | 'target' | 'injection' | 'injectionError'>> {
  const blobs = imageBlobs(p.img);
  const target = env.sb.node(plan.target);
  const observation = await awaitMoment(env, {
    workflowId: p.workflowId,
    spec: plan.fault,
    since,
    timeoutMs: limits.momentTimeoutMs ?? 180_000,
    totalBytes: p.img.totalSize,
    onTarget: () => bytesOnNode(target, blobs),
  });
  const victim = faultTarget(plan, observation);
  try {
    return { observation, target: victim, injection: await inject(env, victim, plan.fault.delayMs) };
  } catch (err) {
    return { observation, target: victim, injectionError: String(err) };
  }
}

/** Runs one salvage with its fault and judges the outcome. Never throws for a product failure: it reports it. */
export async function runCase(
  env: FaultEnv,
  plan: SalvagePlan,
  ctx: { cache: ManifestCache; limits?: CaseLimits },
): Promise<CaseResult> {
  const limits = ctx.limits ?? {};
  const p = await prepare(env, plan);
  const since = Date.now();
  let faultDoneAt: number | undefined;
  const fault = fireFault(env, plan, p, since, limits).finally(() => (faultDoneAt = Date.now()));
  // kubelet's own failure report is what the controller reacts to; the pod it names is the one tote restarts.
  const failure: KubeletFailure | undefined = await awaitKubeletFailure(env.admin, plan.namespace, APP, [
    'ErrImagePull',
    'ImagePullBackOff',
  ]).catch(() => undefined);
  const pod = failure?.pod.metadata?.name ?? '';
  const end = await awaitEnd(env, {
    workflowId: p.workflowId,
    since,
    startTimeoutMs: 120_000,
    stuckAfterMs: limits.stuckAfterMs ?? 300_000,
    maxMs: limits.maxMs ?? 900_000,
    faultDoneAt: () => faultDoneAt,
  });
  const fired = await fault;
  const violations: string[] = [];
  const notes: string[] = [];
  if (!failure) violations.push('kubelet never reported the pull failure');
  if (fired.injectionError)
    violations.push(`the ${plan.fault.component} did not come back: ${fired.injectionError}`);
  let transferSeconds: number | undefined;
  if (end.status === 'COMPLETED' && end.result?.outcome === 'salvaged') {
    const checked = await checkSalvaged(env, plan, p, pod, end);
    violations.push(...checked.violations);
    transferSeconds = checked.transferSeconds;
    // Proven; fewer pods keep the kubelets light for the cases that follow.
    await deleteDeployment(env.admin, plan.namespace, APP);
  } else if (end.status === 'FAILED') violations.push(...(await checkFailed(env, plan, pod, notes)));
  else {
    violations.push(
      `salvage did not end complete or failed: ${end.status}${end.result ? ` outcome ${end.result.outcome}` : ''}${end.stuckIn ? ` (${end.stuckIn})` : ''}`,
    );
    notes.push(...(await giveUp(env, plan, p, end)));
  }
  for (const b of await halfImported(env, ctx.cache))
    violations.push(
      `half-imported on ${b.node}: record ${b.record} → ${b.digest} lacks ${b.missing.join(', ')}`,
    );
  const runList = await listRuns(env, p.workflowId);
  const runs = runList.length;
  if (end.status !== 'NOT_STARTED') {
    const retries = await env
      .withClient((c) => retriesInHistory(c, p.workflowId))
      .catch((err: unknown) => [`history not readable: ${String(err)}`]);
    notes.push(...retries.map((r) => `retried: ${r}`));
  }
  if (runs !== 1 && end.status !== 'NOT_STARTED')
    violations.push(`${runs} workflow runs for ${p.workflowId} (want 1): ${describeRuns(runList)}`);
  let verdict: CaseResult['verdict'] = end.status === 'FAILED' ? 'failed' : 'salvaged';
  if (violations.length > 0) verdict = 'violation';
  return {
    plan,
    digest: p.img.digest,
    imageBytes: p.img.totalSize,
    imageRef: p.imageRef,
    workflowId: p.workflowId,
    pod,
    ...fired,
    end,
    verdict,
    violations,
    notes,
    runs,
    transferSeconds,
    kubeletReason: failure?.reason,
  };
}
