/**
 * The interfaces the activities need, owned by their consumer (docs/conventions.md, module boundaries): adapters in infra/ and workers/
 * implement them, tests pass fakes. Every call takes a `signal` so cancellation reaches the network.
 */
import type { RegistryCopy } from '../common/last-copy.js';
import type { PodRef, SalvageMode, WebhookEvent } from './types.js';

/** Per-call options: the activity's cancellation signal. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Where an agent answers. */
export interface AgentEndpoint {
  node: string;
  /** `host:port`. */
  address: string;
}

/** One image a node's containerd holds. */
export interface AgentImage {
  name: string;
  digest: string;
  sizeBytes: number;
}

/** What an agent knows about one digest in its containerd. */
export interface ImageStatus {
  present: boolean;
  /** Every blob the manifest (or index, for this platform) references is in the content store. */
  complete: boolean;
  sizeBytes: number;
  /** Transfer sessions the agent streams to peers now (fan-out prefers the least busy holder). */
  activeExports?: number;
  /** The agent's `--max-concurrent-exports`; 0: it never serves peers; undefined: not reported. */
  maxExports?: number;
}

/** One blob of an export plan. */
export interface BlobRef {
  digest: string;
  size: number;
}

/** The source's answer to PrepareExport: what the session will serve. */
export interface ExportPlan {
  mediaType: string;
  blobs: BlobRef[];
  totalBytes: number;
  complete: boolean;
}

/** A progress report streamed by ImportFrom. */
export interface ImportProgress {
  bytesDone: number;
  bytesTotal: number;
  blobsCommitted: number;
  blobsTotal: number;
  blobsSkipped: number;
  /** Bytes that crossed the wire in this call (blobs already present are not sent); when the agent reports it. */
  bytesReceived?: number;
}

/** The ImportFrom request sent to the target agent. */
export interface ImportRequest {
  session: string;
  digest: string;
  sources: AgentEndpoint[];
  /** Image names (references) the target creates for the CRI plugin and kubelet. */
  imageNames: string[];
}

/** The node agent, as the activities use it (docs/architecture.md). */
export interface AgentPort {
  /** Lists the images in the node's containerd. */
  listImages(agent: AgentEndpoint, opts?: CallOptions): Promise<AgentImage[]>;
  /** Reports presence and completeness of a digest. */
  hasImage(agent: AgentEndpoint, digest: string, opts?: CallOptions): Promise<ImageStatus>;
  /** Registers a session on the source (token bound to digest, target node and TTL); returns the blob list. */
  prepareExport(
    agent: AgentEndpoint,
    req: { session: string; digest: string; targetNode: string; ttlSeconds: number },
    opts?: CallOptions,
  ): Promise<ExportPlan>;
  /** Asks the target to pull the image from the sources; calls `onProgress` for every streamed report. */
  importFrom(
    agent: AgentEndpoint,
    req: ImportRequest,
    onProgress: (p: ImportProgress) => void,
    opts?: CallOptions,
  ): Promise<ImportProgress>;
  /**
   * The digest the node's containerd holds for a `name:tag` record, or null when it has none. Optional: without
   * it, the `resolveImage` workflow skips the agents step.
   */
  resolveTag?(agent: AgentEndpoint, ref: string, opts?: CallOptions): Promise<string | null>;
  /**
   * Which of `digests` the node's content store holds as committed blobs (the dedup `ImportFrom` applies).
   * Optional: without it, `planTransfer` reports an upper bound (nothing assumed present on the target).
   * MAINTENANCE: needs a blob-presence RPC on the agent (proposed: `HasBlobs(digests) → present digests`).
   */
  presentBlobs?(agent: AgentEndpoint, digests: string[], opts?: CallOptions): Promise<string[]>;
  /** Removes one image record (never blobs other images share). */
  removeImage(agent: AgentEndpoint, ref: string, opts?: CallOptions): Promise<{ removed: boolean }>;
  /** Pushes the image from the node's containerd to a registry; `opts.onProgress` sees every streamed report. */
  pushImage(
    agent: AgentEndpoint,
    req: { digest: string; targetRef: string; credentials?: RegistryCredentials; insecure: boolean },
    opts?: PushCallOptions,
  ): Promise<{ bytesPushed: number }>;
}

/** Progress of a backup push, as the agent streams it. */
export interface PushProgress {
  /** Bytes of the image handled so far (uploaded, or already in the registry). */
  bytesDone: number;
  bytesTotal: number;
  /** Bytes uploaded in this call. */
  bytesUploaded: number;
}

/** Per-call options of a push: cancellation, and progress for the activity's heartbeats. */
export interface PushCallOptions extends CallOptions {
  onProgress?: (p: PushProgress) => void;
}

/** Registry credentials read at push time; never logged (the logger redacts `credentials`). */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/** A Node as the inventory needs it. */
export interface NodeInfo {
  name: string;
  /** `Node.status.addresses` InternalIP, for `{nodeIP}` endpoint templates (hostNetwork agents). */
  internalIP?: string;
  /** `Node.status.images[].names`, flattened. */
  imageNames: string[];
}

/** An agent pod of the DaemonSet. */
export interface AgentPod {
  node: string;
  podIP: string;
  ready: boolean;
}

/** An owner reference as the opt-in check needs it. */
export interface OwnerRef {
  /**
   * Group/version, e.g. `apps/v1`, for the opt-in's API group check (common/opt-in.ts). The Kubernetes adapter
   * always passes it; a reference without it (a hand-made one in a unit test) is matched on its kind alone.
   */
  apiVersion?: string;
  kind: string;
  name: string;
  controller?: boolean;
}

/** A Pod, a ReplicaSet or any owner: annotations and owners. */
export interface ObjectMeta {
  uid?: string;
  annotations: Record<string, string>;
  ownerReferences: OwnerRef[];
}

/** A Kubernetes event on a pod. */
export interface PodEvent {
  pod: PodRef;
  type: 'Normal' | 'Warning';
  reason: string;
  /** Short verb for events.k8s.io `action`. */
  action: string;
  message: string;
}

/** A SalvageRecord (tote.dev/v1alpha1) as written by tote. */
export interface SalvageRecordObject {
  namespace: string;
  name: string;
  spec: Record<string, string>;
  status: Record<string, string | number | Record<string, string>>;
  labels?: Record<string, string>;
}

/** A SalvageRecord as listed by the reaper. */
export interface SalvageRecordSummary {
  namespace: string;
  name: string;
  createdAt: string;
}

/** The Kubernetes API, as the activities use it. */
export interface KubePort {
  /** Lists Nodes with their reported images. */
  listNodes(opts?: CallOptions): Promise<NodeInfo[]>;
  /** Lists the agent DaemonSet's pods (namespace and selector are the adapter's configuration). */
  listAgentPods(opts?: CallOptions): Promise<AgentPod[]>;
  /** Annotations of a namespace; null when it does not exist. */
  getNamespace(name: string, opts?: CallOptions): Promise<ObjectMeta | null>;
  /** A pod's metadata; null when it does not exist. */
  getPod(pod: PodRef, opts?: CallOptions): Promise<ObjectMeta | null>;
  /** An owner's metadata (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, CronJob); null when gone. */
  getOwner(namespace: string, owner: OwnerRef, opts?: CallOptions): Promise<ObjectMeta | null>;
  /** Records an event on a pod. */
  createEvent(event: PodEvent, opts?: CallOptions): Promise<void>;
  /** Creates a SalvageRecord with its status; returns false when one with that name already exists. */
  createSalvageRecord(rec: SalvageRecordObject, opts?: CallOptions): Promise<boolean>;
  /** Lists every SalvageRecord in every namespace. */
  listSalvageRecords(opts?: CallOptions): Promise<SalvageRecordSummary[]>;
  /** Deletes a SalvageRecord; false when it was already gone. */
  deleteSalvageRecord(namespace: string, name: string, opts?: CallOptions): Promise<boolean>;
  /**
   * Applies a strategic-merge patch to a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, CronJob);
   * false when it is gone. Optional: only the pull-policy remedy needs it.
   */
  patchWorkload?(namespace: string, workload: OwnerRef, patch: object, opts?: CallOptions): Promise<boolean>;
  /** Deletes a pod, preconditioned on its uid when given; false when it was already gone. */
  deletePod(pod: PodRef, opts?: CallOptions): Promise<boolean>;
  /** The `.dockerconfigjson` of a Secret, decoded; null when missing. */
  readDockerConfig(namespace: string, name: string, opts?: CallOptions): Promise<string | null>;
  /**
   * Pods in phase Running (in `namespace`, or all), with their containers' images. Optional: only the last-copy
   * scan (activities/scan.ts) needs it, and fails clearly without it.
   */
  listRunningPods?(namespace: string | undefined, opts?: CallOptions): Promise<RunningPod[]>;
}

/** A container of a running pod: the image its spec names and the `imageID` kubelet reports. */
export interface RunningContainer {
  name: string;
  image: string;
  imageID?: string;
}

/** A pod in phase Running, as the last-copy scan needs it. */
export interface RunningPod {
  namespace: string;
  name: string;
  uid?: string;
  node: string;
  /** Init and regular containers: a restarted pod needs every one of their images. */
  containers: RunningContainer[];
}

/** The registry's answer to a manifest HEAD. */
export interface ManifestHead {
  copy: RegistryCopy;
  /** `Docker-Content-Digest` when the registry sent it. */
  digest?: string;
  /** Why the answer is `unknown` (status, network error). */
  detail?: string;
}

/** Registry v2 manifest checks, as the last-copy scan uses them (anonymous: no pull secrets). */
export interface ManifestPort {
  /** HEADs `/v2/<repository>/manifests/<reference>` on `registry`; never throws for HTTP or network errors. */
  headManifest(
    req: { registry: string; repository: string; reference: string; insecure: boolean },
    opts?: CallOptions,
  ): Promise<ManifestHead>;
}

/** A JSON POST. */
export interface HttpPost {
  url: string;
  body: unknown;
  /** When set, the body is signed with HMAC-SHA256 in the `X-Tote-Signature` header. */
  secret?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Outbound HTTP, as the notify activity uses it. */
export interface HttpPort {
  /** Posts JSON; resolves with the status code, rejects on network errors and timeouts. */
  postJson(req: HttpPost): Promise<{ status: number }>;
}

/** Registry v2 API, as tag resolution uses it. */
export interface RegistryPort {
  /** The manifest digest a tag points to, or null when the registry says it does not exist. */
  resolveTag(ref: string, opts?: CallOptions): Promise<string | null>;
}

/** Time, injected so tests control it. */
export interface Clock {
  now(): Date;
}

/** Metrics the activities update (docs/architecture.md). Implemented over prom-client in infra/metrics.ts. */
export interface SalvageMetrics {
  inc(name: CounterName, labels?: Record<string, string>): void;
  observe(name: HistogramName, seconds: number): void;
  addTransferBytes(bytes: number): void;
}

/** Counters of docs/architecture.md. */
export type CounterName =
  | 'detected_failures'
  | 'salvageable_images'
  | 'not_actionable'
  | 'salvage_attempts'
  | 'salvage_successes'
  | 'salvage_failures'
  | 'push_attempts'
  | 'push_successes'
  | 'push_failures'
  | 'corrupt_images'
  | 'registry_resolve';

/** Histograms of docs/architecture.md. */
export type HistogramName = 'salvage_duration' | 'push_duration' | 'registry_resolve_duration';

/** How activities find agents: the DaemonSet's pods, or a template with `{node}` and/or `{nodeIP}`. */
export type AgentDiscovery = { kind: 'pods'; port: number } | { kind: 'template'; template: string };

/** The backup registry (`--backup-registry*`). */
export interface BackupConfig {
  /** Registry host and optional path prefix, e.g. `backup.example:5000/salvaged`. */
  registry: string;
  /** dockerconfigjson Secret (`namespace/name`), read at push time. */
  secret?: { namespace: string; name: string };
  insecure: boolean;
}

/** The webhook (`--webhook-*`). */
export interface WebhookConfig {
  url: string;
  /** Event types to send; empty means all. */
  events: WebhookEvent[];
  secret?: string;
  timeoutMs: number;
}

/** Worker configuration the activities read. */
export interface ActivityConfig {
  mode: SalvageMode;
  maxImageSizeBytes: number;
  approveTimeoutMs: number;
  transferAttempts: number;
  sessionTtlSeconds: number;
  salvageRecordTtlSeconds: number;
  agents: AgentDiscovery;
  backup?: BackupConfig;
  webhook?: WebhookConfig;
  /** Whether tag resolution through the registry v2 API is allowed (`--registry-resolve`). */
  registryResolve: boolean;
  /**
   * Whether the worker may switch a workload's `imagePullPolicy: Always` to `IfNotPresent` where the Namespace or
   * the workload carries `tote.dev/pull-policy-remedy: "true"` (`--pull-policy-remedy`; the chart grants the
   * patch RBAC only with it). @default false
   */
  pullPolicyRemedy?: boolean;
}

/** Caps concurrent transfers (`--max-concurrent-salvages`, `--max-uploads-per-source`) within one worker. */
export interface TransferSlots {
  /** Waits for a slot for a transfer from `sourceNode`; resolves with its release function. */
  acquire(sourceNode: string, signal: AbortSignal): Promise<() => void>;
  /** A slot for `sourceNode` now, or undefined when the worker or that source is at its cap (fan-out). */
  tryAcquire?(sourceNode: string): (() => void) | undefined;
  /** Transfers running now from `sourceNode`. */
  runningFrom?(sourceNode: string): number;
  /** The per-source cap (`--max-uploads-per-source`); 0 means none. */
  readonly perSourceCap?: number;
}

/** Everything `createActivities` needs. */
export interface ActivityDeps {
  kube: KubePort;
  agent: AgentPort;
  http: HttpPort;
  registry?: RegistryPort;
  /** Manifest HEADs for the last-copy scan; the scan reports every registry as `unknown` without it. */
  manifests?: ManifestPort;
  clock: Clock;
  metrics: SalvageMetrics;
  config: ActivityConfig;
  /** Concurrency caps of transfers; none when absent. */
  slots?: TransferSlots;
}
