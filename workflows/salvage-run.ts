/**
 * The state of one salvage run and the reporting it does: phase (query and search attribute), events, webhooks.
 * Events and webhooks are best effort: a broken receiver or a throttled apiserver never fails a salvage.
 */
import {
  ApplicationFailure,
  log,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RestartInput, RestartResult } from '../activities/pods.js';
import type { EventReason, PodRef, TransferProgress, WebhookEvent } from '../activities/types.js';
import { pullPolicyFix, type ContainerList } from '../common/pull-policy.js';
import type { CounterName } from '../activities/deps.js';
import { acts } from './acts.js';
import { KUBE, WEBHOOK } from './activity-options.js';
import { SA } from './search-attributes.js';
import { failureType } from './salvage-transfer.js';
import type { JoinedPod, SalvageInput, SalvagePhase, SalvageProgress } from './types.js';

/** Options of {@link SalvageRun.event}. */
export interface EventOptions {
  durationSeconds?: number;
  extraCounters?: CounterName[];
  /** Another pod than the run's own (a pod that joined). */
  pod?: PodRef;
}

/**
 * Patch: pods that joined the run (signal `podJoined`) are restarted with the first one.
 * MAINTENANCE: remove the check (keep the behaviour) once no run started before this patch can still be open.
 */
export const JOINED_PODS_PATCH = 'restart-joined-pods';

function podKey(p: PodRef): string {
  return `${p.namespace}/${p.name}/${p.uid ?? ''}`;
}

const LISTS: Record<'init' | 'regular' | 'ephemeral', ContainerList> = {
  init: 'initContainers',
  regular: 'containers',
  ephemeral: 'ephemeralContainers',
};

/** One salvage: its input, its progress and its reporting helpers. */
export class SalvageRun {
  readonly workflowId = workflowInfo().workflowId;
  readonly progress: SalvageProgress = {
    phase: 'Detecting',
    bytesDone: 0,
    bytesTotal: 0,
    blobsCommitted: 0,
    blobsTotal: 0,
    attempts: 0,
    sourcesTried: [],
    holders: [],
  };

  /**
   * The detection report (event and webhook) when it runs alongside the transfer; awaited before any later event
   * so `ImageSalvageable` always comes first.
   */
  detection?: Promise<void>;

  constructor(readonly input: SalvageInput) {}

  /** Pods that joined (by namespace/name/uid), and whether each has had its restart. */
  private readonly joined = new Map<string, { pod: JoinedPod; done: boolean }>();

  /** Takes a `podJoined` signal: the run's own pod and pods already known are ignored. */
  join(p: JoinedPod): void {
    const key = podKey(p.pod);
    if (key === podKey(this.input.pod) || this.joined.has(key)) return;
    this.joined.set(key, { pod: p, done: false });
  }

  /**
   * Restarts the pods that joined and have not had their restart yet: the image is on the node now. Each one's
   * opt-in is checked again first (as the first pod's was), and each gets an `ImageSalvageJoined` event. Called
   * after the first pod's restart, and again before the run ends for pods that joined in the meantime.
   */
  async restartJoined(): Promise<void> {
    const pending = [...this.joined.values()].filter((j) => !j.done);
    if (pending.length === 0 || !patched(JOINED_PODS_PATCH)) return;
    for (const j of pending) j.done = true;
    await Promise.all(pending.map((j) => this.restartOne(j.pod)));
  }

  /** What `deleteOwnedPod` needs for `p`: the pull policy details only when the container has one. */
  private restartInput(p: JoinedPod): RestartInput {
    const always = p.pullPolicy
      ? {
          pullPolicy: p.pullPolicy,
          container: p.container ?? 'app',
          containerList: LISTS[p.containerKind ?? 'regular'],
          workflowId: this.workflowId,
        }
      : {};
    return { pod: p.pod, ...always };
  }

  private async restartOne(p: JoinedPod): Promise<void> {
    const { pod } = p;
    try {
      await acts(KUBE, `Re-check opt-in of ${pod.namespace}/${pod.name}`).checkOptIn(pod, {
        requireWorkload: !this.input.requestedBy,
      });
    } catch (err) {
      if (failureType(err) === 'OptInWithdrawn') return;
      log.warn('joined pod not restarted', { pod: pod.name, error: String(err) });
      return;
    }
    let restarted = false;
    try {
      const r = await acts(KUBE, `Restart ${pod.name} if owned`).deleteOwnedPod(this.restartInput(p));
      restarted = r.deleted;
    } catch (err) {
      log.warn('joined pod not restarted', { pod: pod.name, error: String(err) });
    }
    const then = restarted ? 'it is restarted' : 'kubelet starts it at its next retry';
    await this.event(
      'Normal',
      'ImageSalvageJoined',
      `Image ${this.image} is on node ${this.input.node}, salvaged for pod ${this.input.pod.name} (same image, ` +
        `same node): ${then}`,
      { pod },
    );
  }

  /** Moves to `phase`: visible to the `progress` query, the `SalvagePhase` search attribute and the Web UI. */
  setPhase(phase: SalvagePhase): void {
    this.progress.phase = phase;
    upsertSearchAttributes([{ key: SA.SalvagePhase, value: phase }]);
    setCurrentDetails(`**${phase}**${this.progress.source ? ` from ${this.progress.source}` : ''}`);
  }

  /** Holders the running transfer may take the image from (fan-out: the activity picks the least busy one). */
  private transferSources: string[] = [];

  /** Starts a transfer round: `first` is the preferred holder, `candidates` all those the activity may use. */
  beginTransfer(first: string, candidates: string[]): void {
    Object.assign(this.progress, { source: first, bytesDone: 0, blobsCommitted: 0 });
    this.transferSources = candidates;
    this.progress.sourcesTried.push(first);
    this.progress.attempts++;
    this.setPhase('Transferring');
  }

  /** The holder the transfer actually uses (it may differ from the preferred one when that one is busy). */
  useSource(node: string): void {
    if (node === this.progress.source) return;
    this.progress.source = node;
    this.progress.sourcesTried[this.progress.sourcesTried.length - 1] = node;
  }

  /** Takes live transfer progress pushed by the transfer activity (ignored once that source is left behind). */
  onTransferProgress(p: TransferProgress): void {
    if (this.progress.phase !== 'Transferring' || !this.transferSources.includes(p.source)) return;
    this.completeTransfer(p);
  }

  /**
   * Takes a transfer's counts (live, or the verified transfer's own: the final progress then says what the
   * transfer did even when it ended before any live progress signal arrived, as a small image does).
   */
  completeTransfer(r: TransferProgress): void {
    this.useSource(r.source);
    Object.assign(this.progress, {
      bytesDone: r.bytesDone,
      bytesTotal: r.bytesTotal,
      blobsCommitted: r.blobsCommitted,
      blobsTotal: r.blobsTotal,
    });
  }

  /**
   * Restarts the pod when that helps: the activity deletes an owned pod so its controller makes a fresh one at
   * once. Under `imagePullPolicy: Always` it deletes nothing (the replacement would fail the same way, and tote
   * would loop); the run then says why in a Warning event and a `pull_policy_always` webhook, with the fix.
   */
  async restartPod(): Promise<RestartResult> {
    const { input } = this;
    const container = input.container ?? 'app';
    const list = LISTS[input.containerKind ?? 'regular'];
    const r = await acts(KUBE, `Restart ${input.pod.name} if owned`).deleteOwnedPod(this.restartInput(input));
    if (r.pullPolicyChange) {
      const c = r.pullPolicyChange;
      await Promise.all([
        this.event(
          'Normal',
          'ImagePullPolicyChanged',
          `Switched container ${c.container} of ${c.workload} from imagePullPolicy: ${c.from} to ${c.to} for this ` +
            `incident (tote.dev/pull-policy-remedy), so its pods start from the salvaged image; revert: ${c.revert}`,
        ),
        this.webhook('pull_policy_changed', { ...c }),
      ]);
      return r;
    }
    if (r.reason !== 'pull-policy-always') return r;
    const fix = pullPolicyFix(input.pod.namespace, r.workload, container, list);
    const message =
      `Image ${this.image} is on node ${input.node}, but container ${container} pulls with imagePullPolicy: ` +
      `Always: kubelet asks the registry before every start, so the salvaged copy cannot start it and tote does ` +
      `not restart the pod (its replacement would fail the same way). Fix: ${fix}`;
    await Promise.all([
      this.event('Warning', 'ImagePullPolicyAlways', message),
      this.webhook('pull_policy_always', { container, fix, ...(r.workload ? { workload: r.workload } : {}) }),
    ]);
    return r;
  }

  /** A short name of the image for messages. */
  get image(): string {
    return `${this.input.imageRef} (${this.input.digest})`;
  }

  /** Emits an event on the pod; failures are logged, not raised. */
  async event(
    type: 'Normal' | 'Warning',
    reason: EventReason,
    message: string,
    opts: EventOptions = {},
  ): Promise<void> {
    try {
      const { pod = this.input.pod, ...rest } = opts;
      await acts(KUBE, `${reason} event on ${pod.name}`).emitEvent({
        pod,
        type,
        reason,
        message,
        workflowId: this.workflowId,
        ...rest,
      });
    } catch (err) {
      log.warn('event not recorded', { reason, error: String(err) });
    }
  }

  /** Sends a webhook; failures are logged, not raised. */
  async webhook(event: WebhookEvent, data: Record<string, unknown> = {}): Promise<void> {
    try {
      await acts(WEBHOOK, `Webhook ${event}`).sendWebhook({
        event,
        workflowId: this.workflowId,
        data: {
          pod: `${this.input.pod.namespace}/${this.input.pod.name}`,
          image: this.input.imageRef,
          digest: this.input.digest,
          node: this.input.node,
          ...data,
        },
      });
    } catch (err) {
      log.warn('webhook not delivered', { event, error: String(err) });
    }
  }

  /** Reports the failure (event, webhook) and fails the workflow with a typed, non-retryable failure. */
  async fail(type: string, message: string): Promise<never> {
    await this.reportFailure(type, message);
    throw ApplicationFailure.nonRetryable(message, type);
  }

  /** Phase `Failed`, a Warning event and a `salvage_failed` webhook. */
  async reportFailure(type: string, message: string): Promise<void> {
    // The detection report may still be in flight (fast start): keep the events in their natural order.
    await this.detection;
    this.progress.error = message;
    this.setPhase('Failed');
    await Promise.all([
      this.event(
        'Warning',
        'ImageSalvageFailed',
        `Salvage of ${this.image} onto node ${this.input.node} failed: ${message}`,
      ),
      this.webhook('salvage_failed', { error: message, type }),
    ]);
  }

  /** Ends the run in a terminal phase that is not a failure. */
  finish(phase: SalvagePhase): SalvageProgress {
    this.setPhase(phase);
    return this.progress;
  }
}
