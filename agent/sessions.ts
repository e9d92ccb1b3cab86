import { status } from '@grpc/grpc-js';
import { AgentError, requireDigest } from './errors.js';

/** What a caller asks to register: a random token bound to one image, a source, a target and a lifetime. */
export interface SessionSpec {
  token: string;
  digest: string;
  sourceNode: string;
  targetNode: string;
  ttlSeconds: number;
}

/** A registered session and what it may read. */
export interface Session<T = unknown> extends SessionSpec {
  expiresAt: number;
  /** Blob digest → size: the only blobs ReadBlob serves under this token. */
  blobs: ReadonlyMap<string, number>;
  /** What PrepareExport answered, returned again when the same session is prepared twice. */
  description: T;
}

/** Options of {@link SessionRegistry}. */
export interface SessionOptions {
  /** This node's name; a session bound to another source is refused. */
  node: string;
  /** Clock (ms); injected so tests need no timers. @default Date.now */
  now?: () => number;
  /** Lifetime when the caller gives none. @default 600 */
  defaultTtlSeconds?: number;
  /** Longest lifetime accepted. @default 3600 */
  maxTtlSeconds?: number;
  /** Most live sessions kept; more is RESOURCE_EXHAUSTED. @default 1024 */
  maxSessions?: number;
}

// Base64url or hex: at least 16 characters (the worker sends 32 random bytes).
const TOKEN_RE = /^[A-Za-z0-9_-]{16,256}$/;

/** Transfer sessions held by a source agent (in memory: a restarted source needs a new PrepareExport). */
export class SessionRegistry<T = unknown> {
  private readonly sessions = new Map<string, Session<T>>();
  private readonly now: () => number;

  constructor(private readonly opts: SessionOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Validates a spec (INVALID_ARGUMENT naming the field) and fills the defaults. */
  normalize(spec: Partial<SessionSpec> | undefined, digest: string): SessionSpec {
    if (!spec) throw new AgentError(status.INVALID_ARGUMENT, 'session is required');
    if (!TOKEN_RE.test(spec.token ?? '')) {
      throw new AgentError(
        status.INVALID_ARGUMENT,
        'session.token must be 16-256 characters of [A-Za-z0-9_-]',
      );
    }
    requireDigest('digest', digest);
    if (spec.digest && spec.digest !== digest) {
      throw new AgentError(status.INVALID_ARGUMENT, 'session.digest and digest differ');
    }
    const ttl = this.ttl(spec.ttlSeconds);
    if (spec.sourceNode && spec.sourceNode !== this.opts.node) {
      throw new AgentError(
        status.PERMISSION_DENIED,
        `session is for source node ${spec.sourceNode}, this is ${this.opts.node}`,
      );
    }
    return {
      token: spec.token as string,
      digest,
      sourceNode: this.opts.node,
      targetNode: spec.targetNode ?? '',
      ttlSeconds: ttl,
    };
  }

  private ttl(requested: number | undefined): number {
    const max = this.opts.maxTtlSeconds ?? 3600;
    const ttl = requested || (this.opts.defaultTtlSeconds ?? 600);
    if (ttl > max)
      throw new AgentError(status.INVALID_ARGUMENT, `session.ttl_seconds must be at most ${max}`);
    return ttl;
  }

  /**
   * The live session of `spec.token` if it has the same binding (PrepareExport is idempotent), undefined if
   * the token is new or its session expired; PERMISSION_DENIED if the token is bound to another image or
   * target. An expired session is remembered for a while (see {@link prune}), and so is its binding: a replayed
   * token cannot be re-bound to another target once its session has ended, only prepared again by its own.
   */
  existing(spec: SessionSpec): Session<T> | undefined {
    const s = this.sessions.get(spec.token);
    if (!s) return undefined;
    if (s.digest !== spec.digest || s.targetNode !== spec.targetNode) {
      throw new AgentError(
        status.PERMISSION_DENIED,
        'session token is already bound to another image or target',
      );
    }
    return s.expiresAt > this.now() ? s : undefined;
  }

  /** Registers a session; RESOURCE_EXHAUSTED when too many are live. */
  register(spec: SessionSpec, blobs: ReadonlyMap<string, number>, description: T): Session<T> {
    this.prune();
    if (this.sessions.size >= (this.opts.maxSessions ?? 1024)) {
      throw new AgentError(status.RESOURCE_EXHAUSTED, 'too many transfer sessions on this source');
    }
    const session = { ...spec, expiresAt: this.now() + spec.ttlSeconds * 1000, blobs, description };
    this.sessions.set(spec.token, session);
    return session;
  }

  /**
   * Checks a ReadBlob: the token must be live, the blob part of its image, and the peer its target.
   * UNAUTHENTICATED for a missing/unknown/expired token, PERMISSION_DENIED for the rest.
   */
  authorize(token: string, digest: string, peer: string): Session<T> {
    if (!token) throw new AgentError(status.UNAUTHENTICATED, 'session token required');
    const s = this.sessions.get(token);
    if (!s) throw new AgentError(status.UNAUTHENTICATED, 'unknown session token');
    if (s.expiresAt <= this.now()) throw new AgentError(status.UNAUTHENTICATED, 'session expired');
    if (s.targetNode && peer !== s.targetNode) {
      throw new AgentError(
        status.PERMISSION_DENIED,
        `session is for node ${s.targetNode}, not ${peer || '(unnamed)'}`,
      );
    }
    if (!s.blobs.has(digest)) {
      throw new AgentError(status.PERMISSION_DENIED, `blob ${digest} is not part of the session's image`);
    }
    return s;
  }

  /** Forgets sessions expired for longer than their own lifetime (kept a while to say "expired"). */
  private prune(): void {
    const now = this.now();
    for (const [token, s] of this.sessions) {
      if (s.expiresAt + s.ttlSeconds * 1000 <= now) this.sessions.delete(token);
    }
  }
}
