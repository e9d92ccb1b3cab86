/**
 * The one place where errors from Kubernetes, agents and HTTP become typed Temporal failures (docs/conventions.md, side effects).
 * Whether a typed failure is retryable comes from common/failures.ts, which the workflows' retry policies read
 * too; non-retryable types stop retries at once, everything else is retried by the activity's retry policy.
 */
import { ApplicationFailure, CancelledFailure, cancellationSignal } from '@temporalio/activity';
import { isRetryable, type FailureType } from '../common/failures.js';

/** A failure of a type of common/failures.ts, non-retryable when the table says so. */
function typed(
  type: FailureType,
  message: string,
  more: { details?: unknown[]; cause?: Error } = {},
): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: !isRetryable(type), ...more });
}

/** The image is bigger than `--max-image-size`. */
export function imageTooLarge(sizeBytes: number, maxBytes: number): ApplicationFailure {
  return typed(
    'ImageTooLarge',
    `image is ${sizeBytes} bytes, over the limit of ${maxBytes} bytes (--max-image-size)`,
    { details: [{ sizeBytes, maxBytes }] },
  );
}

/** No node holds a complete copy of the digest. */
export function noSourceNode(digest: string, detail = ''): ApplicationFailure {
  return typed('NoSourceNode', `no node holds a complete copy of ${digest}${detail ? `: ${detail}` : ''}`);
}

/** The namespace or workload no longer opts in: tote must not act. */
export function optInWithdrawn(reason: string): ApplicationFailure {
  return typed('OptInWithdrawn', reason);
}

/** A reference or digest that cannot be parsed. */
export function invalidImageReference(ref: string, why: string): ApplicationFailure {
  return typed('InvalidImageReference', `invalid image reference "${ref}": ${why}`);
}

/** The source holds an incomplete copy of the image: the workflow tries the next source. */
export function sourceIncomplete(node: string): ApplicationFailure {
  return typed('SourceIncomplete', `source ${node} holds an incomplete copy`);
}

/** The node has no ready agent (yet): retryable, the DaemonSet may still be rolling out. */
export function agentUnavailable(node: string): ApplicationFailure {
  return typed('AgentUnavailable', `no ready tote agent on node ${node}`);
}

/**
 * Holders the cluster reports (Node.status.images, or an earlier inventory) whose agents do not answer now: an
 * agent restarting or a node rebooting. Retryable, unlike {@link noSourceNode}: the holder is most likely back in
 * seconds, and failing the salvage at once would be wrong.
 */
export function holdersUnreachable(digest: string, nodes: string[]): ApplicationFailure {
  return typed(
    'HoldersUnreachable',
    `no reachable agent holds a complete copy of ${digest}; the agents of its holders (${nodes.join(', ')}) do not answer`,
    { details: [{ nodes }] },
  );
}

/**
 * Retryable failure types that mean "an agent is away" (restarting, unreachable, busy): worth retrying for a
 * minute or two. Any other retryable failure is limited to the policy's `--transfer-attempts`.
 */
export const AGENT_AWAY_TYPES: readonly string[] = [
  'AgentGrpc4', // DEADLINE_EXCEEDED
  'AgentGrpc8', // RESOURCE_EXHAUSTED: busy
  'AgentGrpc14', // UNAVAILABLE: not listening, connection lost, peer gone
  'AgentUnavailable',
  'HoldersUnreachable',
];

/**
 * `err` as the transfer activity raises it on attempt `attempt`: a retryable failure that is not about an absent
 * agent becomes non-retryable once `attempts` attempts were made, so the workflow moves on to the next source
 * instead of retrying a broken one for minutes. Typed and away failures pass unchanged.
 */
export function limitRetries(err: unknown, attempt: number, attempts: number | undefined): unknown {
  if (!(err instanceof ApplicationFailure) || err.nonRetryable || attempts === undefined) return err;
  if (AGENT_AWAY_TYPES.includes(err.type ?? '') || attempt < attempts) return err;
  return ApplicationFailure.create({
    type: err.type ?? undefined,
    message: `${err.message} (attempt ${attempt} of ${attempts})`,
    nonRetryable: true,
    details: err.details ? [...err.details] : undefined,
    cause: err.cause,
  });
}

/** gRPC status codes the agent uses (grpc-js `status`), named here to keep @grpc/* out of activities. */
const GRPC = { CANCELLED: 1, INVALID_ARGUMENT: 3, NOT_FOUND: 5, PERMISSION_DENIED: 7, UNAUTHENTICATED: 16 };

function asRecord(err: unknown): Record<string, unknown> {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>) : {};
}

/** True for an HTTP status error of @kubernetes/client-node (`ApiException`: numeric `code`, `body`). */
function httpStatus(err: unknown): number | undefined {
  const r = asRecord(err);
  return typeof r.code === 'number' && r.code >= 100 && 'body' in r ? r.code : undefined;
}

/** The gRPC status code of a grpc-js `ServiceError` (numeric `code`, `details`, `metadata`). */
function grpcCode(err: unknown): number | undefined {
  const r = asRecord(err);
  return typeof r.code === 'number' && r.code < 100 && 'details' in r ? r.code : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fromHttp(code: number, what: string, err: unknown): ApplicationFailure {
  // 4xx other than 408/409/429 means our request is wrong or forbidden: retrying it unchanged cannot succeed.
  const permanent = code >= 400 && code < 500 && ![408, 409, 429].includes(code);
  return ApplicationFailure.create({
    type: `KubeHttp${code}`,
    message: `${what}: Kubernetes API answered ${code}: ${messageOf(err)}`,
    nonRetryable: permanent,
    cause: err instanceof Error ? err : undefined,
  });
}

function fromGrpc(code: number, what: string, err: unknown): ApplicationFailure {
  const permanent = [GRPC.INVALID_ARGUMENT, GRPC.PERMISSION_DENIED, GRPC.UNAUTHENTICATED].includes(code);
  return ApplicationFailure.create({
    type: code === GRPC.INVALID_ARGUMENT ? 'InvalidImageReference' : `AgentGrpc${code}`,
    message: `${what}: agent answered gRPC status ${code}: ${messageOf(err)}`,
    nonRetryable: permanent,
    cause: err instanceof Error ? err : undefined,
  });
}

/**
 * Maps any error thrown by a dependency to the failure Temporal records. Typed failures and cancellations pass
 * through unchanged; unknown errors stay retryable and keep their cause.
 */
export function toFailure(err: unknown, what: string): Error {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  const http = httpStatus(err);
  if (http !== undefined) return fromHttp(http, what, err);
  const grpc = grpcCode(err);
  if (grpc !== undefined && grpc !== GRPC.CANCELLED) return fromGrpc(grpc, what, err);
  return typed('TransientError', `${what}: ${messageOf(err)}`, {
    cause: err instanceof Error ? err : undefined,
  });
}

/** The activity's cancellation signal, or undefined outside an activity. */
function activitySignal(): AbortSignal | undefined {
  try {
    return cancellationSignal();
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn`, mapping its errors with {@link toFailure}. When the activity was cancelled, the abort error a client
 * throws becomes a `CancelledFailure`, so Temporal records a cancellation rather than a retryable failure.
 */
export async function mapFailures<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const signal = activitySignal();
    if (signal?.aborted && !(err instanceof ApplicationFailure)) {
      throw new CancelledFailure(`${what}: cancelled (${String(signal.reason ?? 'CANCELLED')})`);
    }
    throw toFailure(err, what);
  }
}
