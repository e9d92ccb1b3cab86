import { status, type ServiceError } from '@grpc/grpc-js';
import { isDigest } from '../common/digest.js';
import { ManifestError } from './oci.js';
import { StoreError, type StoreErrorKind } from './store.js';

/** A failure with the gRPC status code the agent answers with (never OK with an error body). */
export class AgentError extends Error {
  constructor(
    readonly code: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AgentError';
  }
}

const CODE_BY_KIND: Record<StoreErrorKind, status> = {
  'not-found': status.NOT_FOUND,
  exists: status.ALREADY_EXISTS,
  invalid: status.INVALID_ARGUMENT,
  precondition: status.FAILED_PRECONDITION,
  unavailable: status.UNAVAILABLE,
  'out-of-range': status.OUT_OF_RANGE,
  'data-loss': status.DATA_LOSS,
  internal: status.INTERNAL,
};

/** Maps any error to an {@link AgentError}: store kinds to their codes, bad manifests to DATA_LOSS. */
export function toAgentError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  if (err instanceof StoreError) return new AgentError(CODE_BY_KIND[err.kind], err.message, { cause: err });
  if (err instanceof ManifestError) {
    return new AgentError(status.DATA_LOSS, `invalid manifest: ${err.message}`, { cause: err });
  }
  const code = grpcCode(err);
  if (code !== undefined)
    return new AgentError(code, (err as ServiceError).details || String(err), { cause: err });
  return new AgentError(status.INTERNAL, err instanceof Error ? err.message : String(err), { cause: err });
}

/** The gRPC code of an error thrown by a grpc-js client call, if it is one. */
export function grpcCode(err: unknown): status | undefined {
  const code = (err as Partial<ServiceError> | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** Throws INVALID_ARGUMENT unless `value` is a sha256 digest; names the field. */
export function requireDigest(field: string, value: string): string {
  if (!isDigest(value)) {
    throw new AgentError(
      status.INVALID_ARGUMENT,
      `${field} ${JSON.stringify(value.slice(0, 100))} is not a digest (sha256: + 64 lowercase hex)`,
    );
  }
  return value;
}

/** Parses a non-negative int64 field (a decimal string on the wire); INVALID_ARGUMENT names the field. */
export function requireOffset(field: string, value: string): number {
  const n = Number(value || '0');
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new AgentError(status.INVALID_ARGUMENT, `${field} must be a non-negative integer, got ${value}`);
  }
  return n;
}
