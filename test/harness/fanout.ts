/**
 * Fan-out scenarios (one digest, many nodes): opted-in pods that fail to pull the same image on many nodes, the
 * salvage workflows the controller starts for them, and what those did. Shared by test/e2e/fanout.test.ts and
 * bench/scale.ts.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import { salvageWorkflowId } from '../../common/names.js';
import type { SalvageResult } from '../../workflows/types.js';
import type { BuiltImage } from './oci-model.js';
import { MERGE_PATCH } from './kube-nodes.js';
import { imageFailureStatus } from './kube-pod-status.js';
import { createPod, setPodImageFailure } from './pods.js';
import { waitFor } from './ports.js';

/** The pod annotation that opts a workload into automatic salvage. */
export const AUTO_SALVAGE = { 'tote.dev/auto-salvage': 'true' };

/** A pod bound to a node. */
export interface BoundPod {
  name: string;
  node: string;
  /** The object as created: lets {@link failPulls} patch without reading it back. */
  pod?: V1Pod;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function parallel<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** What {@link createPods} creates. */
export interface PodsSpec {
  namespace: string;
  /** Pod names are `<prefix>-<i>`. */
  prefix: string;
  image: string;
  /** Nodes the pods are bound to, round-robin. */
  nodes: string[];
  count: number;
  /** Creations in flight. @default 16 */
  concurrency?: number;
}

/** Creates `count` opted-in pods naming `image`, spread round-robin over `nodes`; their status stays empty. */
export async function createPods(kc: KubeConfig, spec: PodsSpec): Promise<BoundPod[]> {
  const pods: BoundPod[] = Array.from({ length: spec.count }, (_, i) => ({
    name: `${spec.prefix}-${i}`,
    node: spec.nodes[i % spec.nodes.length] as string,
  }));
  await parallel(pods, spec.concurrency ?? 16, async (p) => {
    p.pod = await createPod(kc, {
      namespace: spec.namespace,
      name: p.name,
      nodeName: p.node,
      image: spec.image,
      annotations: AUTO_SALVAGE,
    });
  });
  return pods;
}

/**
 * Reports a failed pull (ErrImagePull) on every pod as kubelet does, `concurrency` patches in flight: one status
 * patch per pod (pods from {@link createPods} are not read back first), as cheap for the apiserver as kubelets are.
 */
export async function failPulls(
  kc: KubeConfig,
  namespace: string,
  pods: BoundPod[],
  concurrency = 16,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const failure = { container: 'app', reason: 'ErrImagePull' as const };
  await parallel(pods, concurrency, async (p) => {
    if (!p.pod) {
      await setPodImageFailure(kc, { namespace, name: p.name, ...failure });
      return;
    }
    const body = { status: imageFailureStatus(p.pod, failure) };
    await core.patchNamespacedPodStatus({ name: p.name, namespace, body }, MERGE_PATCH);
  });
}

/** Bytes one transfer of `img` puts on the wire: configs and layers (agents do not count manifests). */
export function wireBytes(img: BuiltImage): number {
  return img.platforms.reduce((sum, p) => sum + p.config.size + p.layers.reduce((s, l) => s + l.size, 0), 0);
}

/** One closed salvage workflow. */
export interface SalvageOutcome {
  node: string;
  workflowId: string;
  result: SalvageResult;
  /** Start and close time as Temporal recorded them (ms since the epoch, same clock as this machine). */
  startMs: number;
  closeMs: number;
  /**
   * When the node held the image: the completion of the last `transferImage` activity (the import had written
   * the image records); the start time when no transfer was needed.
   */
  heldMs: number;
}

type HistoryEvent = {
  eventId?: unknown;
  eventTime?: { seconds?: unknown; nanos?: number | null } | null;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: unknown } | null;
};

function eventMs(e: HistoryEvent): number {
  return Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
}

/** Time of the last completed `transferImage` in a workflow history, if any. */
export function transferCompletedMs(events: HistoryEvent[]): number | undefined {
  const transfers = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'transferImage')
      .map((e) => String(e.eventId)),
  );
  const done = events.filter((e) =>
    transfers.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '')),
  );
  return done.length ? Math.max(...done.map(eventMs)) : undefined;
}

/**
 * Waits for the salvage workflow of `digest` on each of `nodes` (started by the controller) to close and
 * returns its result; a failed workflow rejects with its failure.
 */
export async function awaitSalvages(
  client: Client,
  digest: string,
  nodes: string[],
  timeoutMs = 600_000,
): Promise<SalvageOutcome[]> {
  return Promise.all(
    nodes.map(async (node) => {
      const workflowId = salvageWorkflowId(digest, node);
      const handle = client.workflow.getHandle(workflowId);
      await waitFor(
        `workflow ${workflowId} to start`,
        async () => (await handle.describe().catch(() => false)) !== false,
        timeoutMs,
      );
      const result = (await handle.result()) as SalvageResult;
      const desc = await handle.describe();
      const history = await handle.fetchHistory();
      const startMs = desc.startTime.getTime();
      return {
        ...{ node, workflowId, result, startMs },
        closeMs: desc.closeTime?.getTime() ?? Date.now(),
        heldMs: transferCompletedMs((history.events ?? []) as HistoryEvent[]) ?? startMs,
      };
    }),
  );
}

/** A SalvageRecord as the fan-out checks read it. */
export interface RecordSummary {
  name: string;
  digest: string;
  sourceNode: string;
  targetNode: string;
  /** How long the transfer took, as the workflow recorded it. */
  durationSeconds: number;
}

/** The SalvageRecords of `digest` in `namespace`. */
export async function salvageRecordsOf(
  kc: KubeConfig,
  namespace: string,
  digest: string,
): Promise<RecordSummary[]> {
  const list = (await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
    group: 'tote.dev',
    version: 'v1alpha1',
    namespace,
    plural: 'salvagerecords',
  })) as { items: { metadata: { name: string }; status?: Partial<RecordSummary> }[] };
  return list.items
    .filter((r) => r.status?.digest === digest)
    .map((r) => ({
      name: r.metadata.name,
      digest,
      sourceNode: r.status?.sourceNode ?? '',
      targetNode: r.status?.targetNode ?? '',
      durationSeconds: Number(r.status?.durationSeconds ?? NaN),
    }));
}

/** Deletes the pods (grace 0: there is no kubelet to confirm), `concurrency` at a time. */
export async function deletePods(
  kc: KubeConfig,
  namespace: string,
  pods: BoundPod[],
  concurrency = 16,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await parallel(pods, concurrency, async (p) => {
    await core.deleteNamespacedPod({ namespace, name: p.name, gracePeriodSeconds: 0 }).catch(() => undefined);
  });
}

/** Sum of a Prometheus metric's series at `url` (0 when absent). */
export async function scrapeSum(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}
