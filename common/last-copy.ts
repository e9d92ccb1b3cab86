/**
 * Last-copy protection (docs/architecture.md): the shapes and pure decisions of the `scanLastCopies` workflow, shared by the
 * workflow, its activities and `tote scan`. An image is at risk when its registry no longer serves the manifest
 * and at most `minCopies` nodes still hold a complete copy: losing those nodes loses the image.
 */
import { nodeDigestForTag } from './node-images.js';

/** The vote among witnesses of a digest (nodes, agents): the rule of `node-images.ts`. */
export { majorityDigest } from './node-images.js';

/** Id of the Temporal Schedule that runs the scan when the worker has `--scan-interval`. */
export const SCAN_SCHEDULE_ID = 'tote-scan-last-copies';

/** Workflow id of a scan started by hand (`tote scan`): a fresh one per run, sortable by time. */
export function scanWorkflowId(startedAt: Date, suffix: string): string {
  return `scan/${startedAt.toISOString().replace(/[-:.]/g, '')}-${suffix}`;
}

/** What the registry said about a manifest: `unknown` when it could not say (401, 5xx, unreachable). */
export type RegistryCopy = 'present' | 'gone' | 'unknown';

/** What the scan did about one image. */
export type ScanAction = 'none' | 'warned' | 'backed-up' | 'push-failed';

/** Input of `scanLastCopies`. */
export interface ScanInput {
  /** Only pods in this namespace; all namespaces when absent. */
  namespace?: string;
  /** Images on at most this many nodes count as at risk. @default 1 */
  minCopies?: number;
  /** Push at-risk images to the worker's backup registry, when one is configured. @default false */
  backup?: boolean;
  /** Ask source registries over plain HTTP instead of HTTPS. @default false */
  registryInsecure?: boolean;
}

/** A pod that uses an image, as reported (at most {@link MAX_PODS_LISTED} per image). */
export interface PodUse {
  namespace: string;
  name: string;
  uid?: string;
  node: string;
}

/** Pods listed per image in results: enough to act on and to show; `podCount` has the total. */
export const MAX_PODS_LISTED = 10;

/** An image referenced by running pods, before holders and the registry are known. */
export interface ImageInUse {
  /** Grouping key: `name@digest`, or the normalised reference when no digest is known yet. */
  key: string;
  /** The reference as the first pod's spec writes it. */
  image: string;
  /** `registry/repository`. */
  name: string;
  tag?: string;
  /** Manifest (or index) digest from a pinned reference or a container status `imageID`. */
  digest?: string;
  pods: PodUse[];
  podCount: number;
  /** Whether one of the pods' namespaces allows tote (`tote.dev/allow: "true"`): needed to push a copy. */
  allowed: boolean;
}

/** One row of the scan report. */
export interface ScanRow {
  image: string;
  /** Null when neither the pods, Node.status.images nor the agents could tell the digest. */
  digest: string | null;
  registry: RegistryCopy;
  /** Why the registry answer is `unknown` (HTTP status, network error), or a digest mismatch. */
  registryDetail?: string;
  /** Nodes whose agent reports a complete copy, sorted. */
  holders: string[];
  /** `namespace/name` of the pods using it (at most {@link MAX_PODS_LISTED}). */
  pods: string[];
  podCount: number;
  /** Gone from the registry and on at most `minCopies` nodes. */
  atRisk: boolean;
  action: ScanAction;
  /** Where the backup copy went. */
  backupRef?: string;
  /** Why nothing (more) was done, or why a push failed. */
  note?: string;
}

/** Result of `scanLastCopies`. */
export interface ScanReport {
  workflowId: string;
  namespace?: string;
  minCopies: number;
  /** The worker's `--backup-registry`, or null. */
  backupRegistry: string | null;
  /** Nodes whose agent did not answer: their copies are not counted, so holders may be undercounted. */
  unreachableNodes: string[];
  rows: ScanRow[];
}

/** Whether an image is at risk: gone from its registry and on at most `minCopies` nodes. */
export function isAtRisk(registry: RegistryCopy, holders: number, minCopies: number): boolean {
  return registry === 'gone' && holders <= minCopies;
}

/**
 * The digest `Node.status.images` gives `name:tag` on one node, by the one rule in `node-images.ts` (the controller
 * uses it too). `imageNames` is the node's names flattened (the scan's Kubernetes adapter joins the entries), so
 * they count as a single entry: the node answers only when it lists the tag and exactly one digest of `name`.
 */
export function digestFromNodeImages(
  imageNames: readonly string[],
  name: string,
  tag: string,
): string | undefined {
  return nodeDigestForTag([imageNames], `${name}:${tag}`);
}

/** Orders report rows: at-risk first, then gone, unknown, present; then by image. */
export function compareRows(a: ScanRow, b: ScanRow): number {
  const rank = (r: ScanRow): number =>
    (r.atRisk ? 0 : 4) + ({ gone: 0, unknown: 1, present: 2 } as const)[r.registry];
  return rank(a) - rank(b) || a.image.localeCompare(b.image);
}
