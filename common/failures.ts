/**
 * tote's typed failure types and whether retrying can fix them, in one table: the activities raise them
 * (activities/failures.ts sets `nonRetryable` from it) and the workflows' retry policies stop at once on the
 * non-retryable ones (workflows/activity-options.ts derives `nonRetryableErrorTypes` from it). Pure: workflow code
 * imports it. Failures mapped from a status code (`KubeHttp<code>`, `AgentGrpc<code>`) are decided per code in
 * activities/failures.ts; the workflows' own final failures (`NoTargetAgent`, …) are always non-retryable.
 */

/** Each typed failure type, with whether another attempt can succeed. The order is that of the retry policies. */
export const FAILURE_TYPES = {
  /** The image is bigger than `--max-image-size`. */
  ImageTooLarge: { retryable: false },
  /** No node holds a complete copy of the digest. */
  NoSourceNode: { retryable: false },
  /** The namespace or workload no longer opts in: tote must not act. */
  OptInWithdrawn: { retryable: false },
  /** A reference or digest that cannot be parsed (or an agent's INVALID_ARGUMENT). */
  InvalidImageReference: { retryable: false },
  /** The chosen source holds an incomplete copy: the workflow moves on to the next source. */
  SourceIncomplete: { retryable: false },
  /** The node has no ready agent (yet): the DaemonSet may still be rolling out. */
  AgentUnavailable: { retryable: true },
  /** The agents of the holders the cluster reports do not answer now (restarting, rebooting). */
  HoldersUnreachable: { retryable: true },
  /** Any other error of a dependency. */
  TransientError: { retryable: true },
} as const satisfies Record<string, { readonly retryable: boolean }>;

/** One of {@link FAILURE_TYPES}. */
export type FailureType = keyof typeof FAILURE_TYPES;

/** A failure type that no retry can fix. */
export type NonRetryableFailureType = {
  [K in FailureType]: (typeof FAILURE_TYPES)[K]['retryable'] extends false ? K : never;
}[FailureType];

/** True when another attempt may succeed. */
export function isRetryable(type: FailureType): boolean {
  return FAILURE_TYPES[type].retryable;
}

/** The non-retryable failure types, in table order: the workflows' `nonRetryableErrorTypes`. */
export const NON_RETRYABLE_TYPES: readonly NonRetryableFailureType[] = (
  Object.keys(FAILURE_TYPES) as FailureType[]
).filter((t): t is NonRetryableFailureType => !isRetryable(t));
