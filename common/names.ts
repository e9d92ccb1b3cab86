/**
 * Names shared by every process and by workflow code: task queue, workflow ids, search attributes, annotations.
 * MAINTENANCE: the chart (charts/tote), docs/cli-reference.md and test/harness/temporal.ts repeat these strings.
 */

/** The Temporal task queue every tote worker polls. @default "tote" */
export const TASK_QUEUE = 'tote';

/** The Temporal frontend every process dials without `--temporal-address`: a `temporal server start-dev` here. */
export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

/** Custom search attributes tote sets on its workflows, with their Temporal types. */
export const SEARCH_ATTRIBUTES = {
  ImageDigest: 'Keyword',
  TargetNode: 'Keyword',
  PodNamespace: 'Keyword',
  PodName: 'Keyword',
  SalvagePhase: 'Keyword',
} as const;

/** Name of one of tote's search attributes. */
export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;

/** Annotations and labels tote reads. Values other than "true"/"false" are rejected with a Warning event. */
export const ANNOTATIONS = {
  /** On a Namespace: the namespace allows tote to act at all. */
  allow: 'tote.dev/allow',
  /** On a Pod or one of its owners: salvage this workload automatically. */
  autoSalvage: 'tote.dev/auto-salvage',
  /** On a Namespace: overrides the mode (auto, approve, detect-only). */
  mode: 'tote.dev/mode',
  /**
   * On a Namespace or a workload: when a salvaged container pulls with `imagePullPolicy: Always`, tote may switch
   * the workload's pod template to `IfNotPresent` for the incident (the worker needs `--pull-policy-remedy` too).
   */
  pullPolicyRemedy: 'tote.dev/pull-policy-remedy',
  /** Written by tote on a workload whose pull policy it switched: what it changed, so it can be reverted. */
  pullPolicyChanged: 'tote.dev/pull-policy-changed',
} as const;

/** Prefix of every annotation tote owns; unknown keys under it are reported, not ignored silently. */
export const ANNOTATION_PREFIX = 'tote.dev/';

/**
 * How tote acts on a detection: `auto` salvages at once, `approve` waits for an `approve` signal,
 * `detect-only` only reports. Set per namespace with {@link ANNOTATIONS.mode}.
 */
export const SALVAGE_MODES = ['auto', 'approve', 'detect-only'] as const;

/** One of {@link SALVAGE_MODES}. */
export type SalvageMode = (typeof SALVAGE_MODES)[number];

/** Namespaces tote never acts in, whatever their annotations say. */
export const DENIED_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

/** Workflow id of the salvage of `digest` onto `node`: one per (digest, node), so repeated starts join it. */
export function salvageWorkflowId(digest: string, node: string): string {
  return `salvage/${digest}/${node}`;
}

/** Workflow id of the cleanup of a corrupt image record on `node`. */
export function cleanupWorkflowId(digest: string, node: string): string {
  return `cleanup/${digest}/${node}`;
}

/** Workflow id of the resolution of a tag-only reference: one at a time per reference, whatever the node. */
export function resolveWorkflowId(reference: string): string {
  return `resolve/${reference}`;
}

/** Name of the `salvageImage` signal that adds a pod to a running salvage (workflows/salvage-signals.ts). */
export const POD_JOINED_SIGNAL = 'podJoined';
