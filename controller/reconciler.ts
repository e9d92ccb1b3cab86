/**
 * The reconcile loop: pod changes → detections (detect.ts) → opt-in (opt-in.ts, owners looked up only when the
 * pod itself does not decide) → digest (resolve.ts) → `salvageImage` or `cleanupCorruptImage` started under the
 * deterministic ids of common/names.ts with USE_EXISTING, so repeated detections, other replicas and restarts
 * join the running workflow. Each pod is handled by one worker at a time (work-queue.ts); failures are retried
 * with backoff and never leave the loop.
 */
import type { SalvageMode } from '../common/names.js';
import type { Logger } from '../infra/logger.js';
import { detectFailures, planAction, type ActionPlan, type DetectedFailure } from './detect.js';
import { TECHNICAL_DEBT, type EventRecorder } from './events.js';
import {
  decideOptIn,
  ownerChainToFetch,
  type ObjectAnnotationProblem,
  type OptInDecision,
} from './opt-in.js';
import { RemoteCache } from './remote-cache.js';
import { resolveLocally, type NodeImages, type RemoteResolver } from './resolve.js';
import type { ControllerMetrics, DeferredStart, WorkflowStarter } from './ports.js';
import type { Namespace, OwnerObject, Pod } from './types.js';
import { WorkQueue } from './work-queue.js';

export type { ControllerMetrics, DeferredStart, WorkflowStarter } from './ports.js';

/** Everything the reconciler reads and calls. */
export interface ReconcilerDeps {
  pods: { get(key: string): Pod | undefined; values(): Iterable<Pod> };
  namespaces: { get(name: string): Namespace | undefined };
  nodes: { values(): Iterable<NodeImages> };
  owners: { ownersOf(pod: Pod): Promise<OwnerObject[]> };
  starter: WorkflowStarter;
  /** The `resolveImage` workflow; without it, a tag the cluster cannot resolve is reported not actionable. */
  remote?: RemoteResolver;
  events: EventRecorder;
  metrics: ControllerMetrics;
  logger: Logger;
  config: { enabled: boolean; mode: SalvageMode; registryResolve: boolean };
  /** Pods reconciled at once. @default 8 */
  concurrency?: number;
  /** First retry delay of a failing pod (doubles up to 30 s). @default 1000 */
  retryBackoffMs?: number;
}

/** What this process has done for one pod (uid-scoped: a recreated pod starts afresh). */
interface PodMemo {
  uid: string;
  /** Detections counted in `tote_detected_failures_total`. */
  counted: Set<string>;
  /** Detections finished: workflow started, or reported not actionable. */
  handled: Set<string>;
  /** Annotation problems already reported. */
  warned: Set<string>;
  /** Why the pod was last left alone, so `ignored` counts changes, not every update. */
  ignoredWhy?: string;
  /** Workflow ids whose start was held back by the cool-down (logged once). */
  deferred: Set<string>;
}

/** `namespace/name`, the informer and queue key of a pod. */
export function podKey(pod: Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

function detectionId(f: DetectedFailure, plan: ActionPlan): string {
  return `${f.containerKind}/${f.container}|${f.image}|${plan.action}`;
}

/** Reconciles pods into workflow starts. Feed it with {@link enqueue}; call {@link stop} on shutdown. */
export class Reconciler {
  private readonly memos = new Map<string, PodMemo>();
  private readonly queue: WorkQueue;
  private readonly remote: RemoteCache | undefined;

  constructor(private readonly deps: ReconcilerDeps) {
    this.queue = new WorkQueue({
      process: (key) => this.process(key),
      concurrency: deps.concurrency,
      initialBackoffMs: deps.retryBackoffMs,
      onError: (key, err, retryInMs) => deps.logger.warn({ err, pod: key, retryInMs }, 'reconcile failed'),
      metrics: deps.metrics.workQueue,
    });
    this.remote = deps.remote
      ? new RemoteCache({ resolver: deps.remote, requeue: (k) => this.queue.add(k) })
      : undefined;
  }

  /** Queues a pod when it has a detection (or state to forget). */
  enqueue(pod: Pod): void {
    const key = podKey(pod);
    if (this.memos.has(key) || detectFailures(pod).length > 0) this.queue.add(key);
  }

  /** Queues every pod of a namespace that has a detection (its annotations may have changed). */
  namespaceChanged(name: string): void {
    for (const pod of this.deps.pods.values()) if (pod.metadata?.namespace === name) this.enqueue(pod);
  }

  /** Re-queues every pod with an unhandled detection (owner annotations may have changed meanwhile). */
  resync(): void {
    for (const pod of this.deps.pods.values())
      if (detectFailures(pod).length > 0) this.queue.add(podKey(pod));
  }

  /** Queue depth, for metrics and tests. */
  get depth(): number {
    return this.queue.depth;
  }

  /** Resolves when no pod is queued or being reconciled. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Stops taking work; waits for running reconciles. */
  stop(): Promise<void> {
    return this.queue.stop();
  }

  private forget(key: string): void {
    this.memos.delete(key);
    this.queue.forget(key);
  }

  private memoFor(key: string, pod: Pod): PodMemo {
    const uid = pod.metadata?.uid ?? '';
    let memo = this.memos.get(key);
    if (!memo || memo.uid !== uid) {
      memo = { uid, counted: new Set(), handled: new Set(), warned: new Set(), deferred: new Set() };
      this.memos.set(key, memo);
    }
    return memo;
  }

  private async process(key: string): Promise<void> {
    const pod = this.deps.pods.get(key);
    const failures = pod ? detectFailures(pod) : [];
    if (!pod || failures.length === 0) return this.forget(key);
    const memo = this.memoFor(key, pod);
    const decision = await this.decide(pod);
    await this.reportProblems(pod, memo, decision.problems);
    if (!decision.allowed) return this.ignore(key, memo, decision.why);
    memo.ignoredWhy = undefined;
    for (const f of failures) await this.handle(pod, memo, f);
  }

  private ignore(key: string, memo: PodMemo, why: string): void {
    if (memo.ignoredWhy === why) return;
    memo.ignoredWhy = why;
    this.deps.metrics.ignored(why);
    this.deps.logger.debug({ pod: key, why }, 'detection ignored');
  }

  /** Opt-in, fetching owners only when the namespace allows and the pod itself does not decide. */
  private async decide(pod: Pod): Promise<OptInDecision> {
    const { enabled, mode } = this.deps.config;
    const namespace = this.deps.namespaces.get(pod.metadata?.namespace ?? '');
    const base = { namespace, pod, enabled, defaultMode: mode };
    const first = decideOptIn({ ...base, owners: [] });
    if (first.allowed || first.why !== 'pod-not-opted-in' || ownerChainToFetch(pod).length === 0)
      return first;
    return decideOptIn({ ...base, owners: await this.deps.owners.ownersOf(pod) });
  }

  private async reportProblems(
    pod: Pod,
    memo: PodMemo,
    problems: readonly ObjectAnnotationProblem[],
  ): Promise<void> {
    for (const p of problems) {
      const id = `${p.object.kind}/${p.object.name}|${p.key}=${p.value}`;
      if (memo.warned.has(id)) continue;
      memo.warned.add(id);
      this.deps.metrics.annotationProblem(p.kind);
      await this.event(pod, 'InvalidAnnotation', `${p.object.kind} ${p.object.name}: ${p.message}`);
    }
  }

  private async event(pod: Pod, reason: string, note: string): Promise<void> {
    const target = {
      namespace: pod.metadata?.namespace ?? '',
      name: pod.metadata?.name ?? '',
      uid: pod.metadata?.uid,
    };
    const action = reason === 'InvalidAnnotation' ? 'Validating' : 'Detected';
    try {
      await this.deps.events.record({ pod: target, type: 'Warning', reason, action, note });
    } catch (err) {
      // An event is a courtesy: failing to write one must not block the salvage.
      this.deps.logger.warn({ err, pod: podKey(pod), reason }, 'could not record event');
    }
  }

  private async notActionable(pod: Pod, f: DetectedFailure, why: string, detail: string): Promise<void> {
    this.deps.metrics.notActionable(why);
    this.deps.logger.warn({ pod: podKey(pod), container: f.container, image: f.image, why }, detail);
    const note = `Image ${f.image} of container ${f.container} (${f.reason}) cannot be salvaged: ${detail}. ${TECHNICAL_DEBT}`;
    await this.event(pod, 'ImageNotActionable', note);
  }

  private async handle(pod: Pod, memo: PodMemo, f: DetectedFailure): Promise<void> {
    const plan = planAction(f);
    const id = detectionId(f, plan);
    if (memo.handled.has(id)) return;
    if (plan.action === 'none') {
      memo.handled.add(id);
      if (plan.why === 'invalid-reference')
        await this.notActionable(
          pod,
          f,
          'invalid-reference',
          plan.error?.reason ?? 'invalid image reference',
        );
      return;
    }
    if (!memo.counted.has(id)) {
      memo.counted.add(id);
      this.deps.metrics.detected(f.reason);
    }
    const digest = await this.digestFor(pod, f, plan);
    if (digest === undefined) return;
    if (digest === null) {
      memo.handled.add(id);
      return;
    }
    if (await this.start(pod, f, { plan, digest, memo })) memo.handled.add(id);
  }

  /** The digest; undefined while a remote resolution is pending, null when none exists (already reported). */
  private async digestFor(
    pod: Pod,
    f: DetectedFailure,
    plan: ActionPlan,
  ): Promise<string | null | undefined> {
    if (plan.action === 'none') return null;
    const nodes = this.deps.nodes;
    const local = resolveLocally(plan.digest, {
      pods: () => this.deps.pods.values(),
      nodes: () => nodes.values(),
    });
    if (local.digest !== undefined) return local.digest;
    if (!this.remote || local.steps.length === 0) {
      await this.notActionable(
        pod,
        f,
        'unresolved-tag',
        `no digest for ${local.reference} in pod statuses or Node.status.images`,
      );
      return null;
    }
    const req = {
      reference: local.reference,
      registryResolve: this.deps.config.registryResolve,
    };
    const state = this.remote.lookup(req, podKey(pod));
    if (state.kind === 'pending') return undefined;
    if (state.kind === 'error')
      throw new Error(`resolving ${local.reference} failed`, { cause: state.error });
    if (state.result.digest !== null) return state.result.digest;
    const tried = ['pod imageID', 'Node.status.images', ...state.result.tried].join(', ');
    await this.notActionable(pod, f, 'unresolved-tag', `no digest for ${local.reference} (tried ${tried})`);
    return null;
  }

  /**
   * Starts or joins the workflow; false when the start is held back by the cool-down after a failed salvage
   * (the detection stays unhandled, so a later resync asks again once the cool-down is over).
   */
  private async start(
    pod: Pod,
    f: DetectedFailure,
    { plan, digest, memo }: { plan: ActionPlan; digest: string; memo: PodMemo },
  ): Promise<boolean> {
    const ref = {
      namespace: pod.metadata?.namespace ?? '',
      name: pod.metadata?.name ?? '',
      uid: pod.metadata?.uid,
    };
    const base = { digest, imageRef: f.image, node: f.node, pod: ref };
    const workflow = plan.action === 'cleanup' ? 'cleanupCorruptImage' : 'salvageImage';
    try {
      const workflowId =
        plan.action === 'cleanup'
          ? await this.deps.starter.startCleanup({ ...base, message: f.message })
          : await this.deps.starter.startSalvage({
              ...base,
              container: f.container,
              reason: f.reason,
              ...(f.pullPolicy ? { pullPolicy: f.pullPolicy, containerKind: f.containerKind } : {}),
            });
      if (typeof workflowId !== 'string') {
        this.deferred(pod, memo, workflowId);
        return false;
      }
      this.deps.metrics.workflowStart(workflow, 'ok');
      this.deps.logger.info(
        { workflowId, pod: podKey(pod), container: f.container, digest },
        'workflow started or joined',
      );
      return true;
    } catch (err) {
      this.deps.metrics.workflowStart(workflow, 'error');
      throw new Error(`start ${workflow} for ${podKey(pod)}`, { cause: err });
    }
  }

  /** Counts and logs (once per pod and workflow) a start held back by the cool-down. */
  private deferred(pod: Pod, memo: PodMemo, d: DeferredStart): void {
    this.deps.metrics.workflowStart('salvageImage', 'deferred');
    if (memo.deferred.has(d.workflowId)) return;
    memo.deferred.add(d.workflowId);
    this.deps.logger.info(
      { workflowId: d.workflowId, pod: podKey(pod), lastStatus: d.lastStatus, retryInMs: d.retryInMs },
      'salvage not restarted: its last run ended without success too recently (cool-down)',
    );
  }
}
