/**
 * Inputs, results and progress of tote's workflows. Plain JSON only: these live in Temporal history.
 * The controller and the CLI build inputs with these types (through workflows/index.ts).
 */
import type { PodRef, SalvageMode } from '../activities/types.js';

export type { PodRef, SalvageMode } from '../activities/types.js';

/** Input of `salvageImage`. */
export interface SalvageInput {
  /** The manifest (or index) digest the pod needs. */
  digest: string;
  /** The reference as written in the pod spec; the target gets an image record under this name. */
  imageRef: string;
  /** The node the pod is scheduled on: where the image must land. */
  node: string;
  pod: PodRef;
  /** The failing container, for messages. */
  container?: string;
  /** The kubelet reason that triggered detection (ImagePullBackOff, ErrImagePull, …). */
  reason: string;
  /**
   * Who asked, when an operator started this salvage (`tote salvage`) rather than the controller: the workload's
   * `tote.dev/auto-salvage` is then not required; the namespace's `tote.dev/allow` still is.
   */
  requestedBy?: string;
  /**
   * The failing container's `imagePullPolicy`. With `Always`, kubelet asks the registry on every start, so the
   * salvaged copy cannot bring the pod back and deleting it would only loop: see `pullPolicyBlocks`.
   */
  pullPolicy?: string;
  /** Which list of the pod spec the failing container is in. @default "regular" */
  containerKind?: 'init' | 'regular' | 'ephemeral';
}

/**
 * A pod that failed on the same image and node while a salvage for another pod was under way (signal `podJoined`,
 * sent by the controller with every start it makes or joins): it is restarted with the first one.
 */
export type JoinedPod = Pick<SalvageInput, 'pod' | 'container' | 'containerKind' | 'pullPolicy' | 'reason'>;

/** Phases of a salvage, also the values of the `SalvagePhase` search attribute. */
export type SalvagePhase =
  | 'Detecting'
  | 'AwaitingApproval'
  | 'CheckingOptIn'
  | 'Locating'
  | 'Transferring'
  | 'Verifying'
  | 'Recording'
  | 'Restarting'
  | 'Pushing'
  | 'Notifying'
  | 'Cleaning'
  | 'Completed'
  | 'Detected'
  | 'Rejected'
  | 'ApprovalTimedOut'
  | 'OptInWithdrawn'
  | 'Failed';

/** What the `progress` query returns. */
export interface SalvageProgress {
  phase: SalvagePhase;
  mode?: SalvageMode;
  /** The source currently (or last) used. */
  source?: string;
  bytesDone: number;
  bytesTotal: number;
  blobsCommitted: number;
  blobsTotal: number;
  /** Transfers started, over all sources. */
  attempts: number;
  /** Sources tried so far, in order. */
  sourcesTried: string[];
  /** Nodes that hold the digest, as last located. */
  holders: string[];
  /** The last error, when a source failed or the salvage failed. */
  error?: string;
}

/** How a salvage ended without failing. Failures (no source, too large, every source failed) fail the workflow. */
export type SalvageOutcome =
  'salvaged' | 'already-present' | 'detected' | 'rejected' | 'approval-timed-out' | 'opt-in-withdrawn';

/** Result of `salvageImage`. */
export interface SalvageResult {
  outcome: SalvageOutcome;
  source?: string;
  bytes?: number;
  record?: string;
  podRestarted?: boolean;
  /** Backup reference when the push succeeded; undefined when not configured or failed. */
  pushedTo?: string;
  progress: SalvageProgress;
}

/** Arguments of the `approve` and `reject` signals. */
export interface DecisionArgs {
  /** Who decided (user name, `tote approve`, Web UI). */
  by?: string;
  note?: string;
}

/** Input of `cleanupCorruptImage`. */
export interface CleanupInput {
  digest: string;
  imageRef: string;
  node: string;
  pod: PodRef;
  /** Kubelet's message (CreateContainerError …), quoted in the event. */
  message?: string;
}

/** Input of `reapSalvageRecords`. */
export interface ReapInput {
  /** Records older than this are deleted; the worker's `--salvagerecord-ttl` when absent. */
  ttlSeconds?: number;
}
