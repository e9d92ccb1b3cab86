/**
 * Data shapes that cross the workflow/activity boundary. Everything here is plain JSON (no Date, no BigInt, no
 * class instances): it is stored in Temporal history and must replay identically.
 * Workflows see this file only through `import type`.
 */

/** The pod a salvage acts for. */
export interface PodRef {
  namespace: string;
  name: string;
  /** The pod's uid when known: deletes are preconditioned on it so a replacement pod is never deleted. */
  uid?: string;
}

/** Salvage modes (docs/cli-reference.md). */
export type SalvageMode = 'auto' | 'approve' | 'detect-only';

/** Kubernetes event reasons tote emits (docs/architecture.md). */
export type EventReason =
  | 'ImageSalvageable'
  | 'ImageNotActionable'
  | 'ImageResolvedUncached'
  | 'ImageSalvaged'
  | 'ImageSalvageFailed'
  | 'ImageCorrupt'
  | 'ImagePushed'
  | 'ImagePushFailed'
  | 'ImagePullPolicyAlways'
  | 'ImagePullPolicyChanged'
  | 'ImageSalvageJoined';

/** Webhook event types, filtered by `--webhook-events`. */
export type WebhookEvent =
  | 'detected'
  | 'salvaged'
  | 'salvage_failed'
  | 'pushed'
  | 'push_failed'
  | 'pull_policy_always'
  | 'pull_policy_changed';

/** What the worker's configuration and the namespace annotation say about one salvage. */
export interface SalvagePolicy {
  /** `tote.dev/mode` on the namespace when valid, else the worker's `--mode`. */
  mode: SalvageMode;
  /** 0 means no limit. */
  maxImageSizeBytes: number;
  /** How long `approve` mode waits for a decision. */
  approveTimeoutMs: number;
  /** Attempts per source before the next source is tried. */
  transferAttempts: number;
  /** Whether a backup registry is configured (push after salvage). */
  backup: boolean;
}

/** A node whose agent (or Node.status.images) claims the digest. */
export interface SourceCandidate {
  node: string;
  /** Agent address `host:port`; absent when only Node.status.images knows the node. */
  endpoint?: string;
  /** True when the agent verified every blob of the image is present. */
  complete: boolean;
  /** Total bytes of the image (manifest, config, layers) as the holder reports it; 0 when unknown. */
  sizeBytes: number;
  /** Whether Node.status.images also lists the digest on this node. */
  hinted: boolean;
  /** Sessions its agent was streaming to peers when asked (fan-out prefers the least busy holder). */
  activeExports?: number;
  /** Its agent's `--max-concurrent-exports`: 0 means it never serves peers; absent when not reported. */
  maxExports?: number;
}

/** Result of the inventory activity. */
export interface SourceInventory {
  /** Usable sources in preference order: complete on the agent, hinted first, then by name. */
  sources: SourceCandidate[];
  /** Nodes that hold an incomplete copy (skipped) or are only hinted with no reachable agent. */
  skipped: SourceCandidate[];
  /** The target already holds the complete image: only verification and bookkeeping remain. */
  targetHasImage: boolean;
  /** The target node's agent endpoint. */
  targetEndpoint?: string;
}

/** Progress of one transfer, as heartbeated and reported to the workflow. */
export interface TransferProgress {
  source: string;
  bytesDone: number;
  bytesTotal: number;
  blobsCommitted: number;
  blobsTotal: number;
  /** Blobs the target already had (never sent). */
  blobsSkipped: number;
  /** Attempt number of the transfer activity that produced this progress. */
  attempt: number;
}

/** Result of a completed transfer. */
export interface TransferResult extends TransferProgress {
  durationMs: number;
}

/** Outcome of the on-node verification after a transfer. */
export interface VerifyResult {
  complete: boolean;
  sizeBytes: number;
}

/** A pull-policy switch tote made for an incident (`tote.dev/pull-policy-remedy`), as recorded. */
export interface PullPolicyChange {
  /** `kind/name` of the workload, e.g. `deployment/web`. */
  workload: string;
  container: string;
  from: string;
  to: string;
  /** The one command that reverts it. */
  revert: string;
}

/** Input of the SalvageRecord activity. */
export interface SalvageRecordInput {
  workflowId: string;
  runId: string;
  pod: PodRef;
  imageRef: string;
  digest: string;
  sourceNode: string;
  targetNode: string;
  bytes: number;
  durationMs: number;
  /** The pull-policy switch made for this salvage, if any. */
  pullPolicyChange?: PullPolicyChange;
}

/** Signal name the transfer activity uses to push live progress into the workflow's `progress` query. */
export const TRANSFER_PROGRESS_SIGNAL = 'transferProgress';
