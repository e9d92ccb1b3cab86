/**
 * What the fault suite inspects after each salvage, always on the real systems: containerd's own records and
 * content store (through `ctr`), the apiserver (SalvageRecords, events, pods) and Temporal's visibility.
 */
import { AppsV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import { ctr, listContent, listImages, type ContainerdNode } from '../harness/containerd.js';
import { hostPlatform } from '../harness/images.js';

/** An image record whose blobs are not all in the content store: the half-import the suite must never see. */
export interface BrokenRecord {
  node: string;
  record: string;
  digest: string;
  missing: string[];
}

interface OciDoc {
  mediaType?: string;
  manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[];
  config?: { digest: string };
  layers?: { digest: string }[];
}

/** Manifests are content-addressed, so their parsed blob lists can be kept for the whole run. */
export type ManifestCache = Map<string, OciDoc>;

async function readDoc(node: ContainerdNode, digest: string, cache: ManifestCache): Promise<OciDoc> {
  const known = cache.get(digest);
  if (known) return known;
  const doc = JSON.parse(await ctr(node, ['content', 'get', digest])) as OciDoc;
  cache.set(digest, doc);
  return doc;
}

/**
 * Digests missing below `digest`: the root itself, and for a manifest its config and layers; for an index the
 * host platform's manifests (a CRI pull leaves other platforms out: a sparse index is complete for kubelet).
 */
async function missingBelow(
  node: ContainerdNode,
  digest: string,
  have: Set<string>,
  cache: ManifestCache,
): Promise<string[]> {
  if (!have.has(digest)) return [digest];
  const doc = await readDoc(node, digest, cache);
  if (doc.manifests) {
    const host = hostPlatform();
    const children = doc.manifests.filter(
      (m) => !m.platform || (m.platform.os === host.os && m.platform.architecture === host.architecture),
    );
    const missing: string[] = [];
    for (const c of children) missing.push(...(await missingBelow(node, c.digest, have, cache)));
    return missing;
  }
  const blobs = [doc.config?.digest, ...(doc.layers ?? []).map((l) => l.digest)].filter(
    (d): d is string => !!d,
  );
  return blobs.filter((d) => !have.has(d));
}

/** Every image record of `node` whose blobs are incomplete (the `sha256:<config>` id records point at the same roots). */
export async function brokenRecords(node: ContainerdNode, cache: ManifestCache): Promise<BrokenRecord[]> {
  const [records, content] = await Promise.all([listImages(node), listContent(node)]);
  const have = new Set(content);
  const byRoot = new Map<string, string[]>();
  for (const r of records) byRoot.set(r.digest, [...(byRoot.get(r.digest) ?? []), r.name]);
  const broken: BrokenRecord[] = [];
  for (const [digest, names] of byRoot) {
    const missing = await missingBelow(node, digest, have, cache);
    if (missing.length > 0)
      broken.push(...names.map((record) => ({ node: node.name, record, digest, missing })));
  }
  return broken;
}

/** What the target holds of one image. */
export interface TargetImage {
  /** Names of the records that point at the digest. */
  records: string[];
  /** Required blobs (root, config, layers) not in the content store. */
  missingBlobs: string[];
}

/** The records of `digest` on `node` and which of `blobs` its content store lacks. */
export async function targetImage(
  node: ContainerdNode,
  digest: string,
  blobs: string[],
): Promise<TargetImage> {
  const [records, content] = await Promise.all([listImages(node), listContent(node)]);
  const have = new Set(content);
  return {
    records: records.filter((r) => r.digest === digest).map((r) => r.name),
    missingBlobs: blobs.filter((b) => !have.has(b)),
  };
}

/** How much of an image has reached a node's content store so far. */
export interface BytesOnNode {
  /** Bytes of the image's blobs already committed. */
  committed: number;
  /** Bytes written to ingests still open (what is streaming in right now). */
  active: number;
  /** Every blob of the image is committed. */
  complete: boolean;
}

const SIZE_UNITS: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** Parses the human sizes `ctr` prints (`8.389MB`, `512kB`, `0B`). */
export function parseHumanSize(text: string): number {
  const m = /^([\d.]+)\s*([kMGT]?B)$/.exec(text.trim());
  return m ? Number(m[1]) * (SIZE_UNITS[m[2] ?? 'B'] ?? 1) : 0;
}

/**
 * The image's bytes on `node`: committed blobs (exact sizes from the image) plus the open ingests of its blobs
 * (`ctr content active`; the agent names each ingest `tote-sha256-<hex>` after its blob, so a half-written blob of
 * another image, left by an earlier crash, is not counted).
 */
export async function bytesOnNode(
  node: ContainerdNode,
  blobs: { digest: string; size: number }[],
): Promise<BytesOnNode> {
  const [content, active] = await Promise.all([listContent(node), ctr(node, ['content', 'active'])]);
  const have = new Set(content);
  const done = blobs.filter((b) => have.has(b.digest));
  const refs = new Set(blobs.map((b) => `tote-${b.digest.replace(':', '-')}`));
  const open = active
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter(([ref]) => ref !== undefined && refs.has(ref))
    .map(([, size]) => parseHumanSize(size ?? ''));
  return {
    committed: done.reduce((n, b) => n + b.size, 0),
    active: open.reduce((n, b) => n + b, 0),
    complete: done.length === blobs.length,
  };
}

export {
  podEvents,
  podGone,
  salvageRecords,
  type EventView,
  type RecordView,
} from '../harness/kube-views.js';

/** Deletes a Deployment; the garbage collector and the kubelets take its pods away. */
export async function deleteDeployment(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  await kc
    .makeApiClient(AppsV1Api)
    .deleteNamespacedDeployment({ namespace, name, propagationPolicy: 'Background' })
    .catch((err: { code?: number }) => {
      if (err.code !== 404) throw err;
    });
}

/** One execution of a workflow id, from visibility. */
export interface RunView {
  runId: string;
  status: string;
  startTime: number;
  closeTime?: number;
}

/** Every execution (run) Temporal has of `workflowId`, oldest first. */
export async function workflowRuns(client: Client, workflowId: string): Promise<RunView[]> {
  const runs: RunView[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs.push({
      runId: w.runId,
      status: w.status.name,
      startTime: w.startTime.getTime(),
      closeTime: w.closeTime?.getTime(),
    });
  }
  return runs.sort((a, b) => a.startTime - b.startTime);
}

/** Salvage workflow ids with more than one execution, over the whole namespace. */
export async function duplicatedSalvages(client: Client): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const w of client.workflow.list({ query: `WorkflowType = 'salvageImage'` }))
    counts.set(w.workflowId, (counts.get(w.workflowId) ?? 0) + 1);
  return new Map([...counts].filter(([, n]) => n > 1));
}

/**
 * What the history says went wrong and was retried: activities that needed more than one attempt (with the last
 * failure, often a timeout after a crash) and workflow tasks that timed out. Explains a case's duration.
 */
export async function retriesInHistory(client: Client, workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const types = new Map<string, string>();
  const out: string[] = [];
  let wftTimeouts = 0;
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(e.eventId), scheduled.activityType?.name ?? '?');
    const started = e.activityTaskStartedEventAttributes;
    if (started && (started.attempt ?? 1) > 1) {
      const type = types.get(String(started.scheduledEventId)) ?? '?';
      out.push(`${type} attempt ${started.attempt} (before: ${started.lastFailure?.message ?? '?'})`);
    }
    const timedOut = e.activityTaskTimedOutEventAttributes;
    if (timedOut)
      out.push(
        `${types.get(String(timedOut.scheduledEventId)) ?? '?'} timed out: ${timedOut.failure?.message ?? '?'}`,
      );
    if (e.workflowTaskTimedOutEventAttributes) wftTimeouts++;
  }
  if (wftTimeouts > 0) out.push(`${wftTimeouts} workflow task timeout(s)`);
  return out;
}
