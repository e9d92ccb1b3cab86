/**
 * Container image references: parse, normalise and format them the way docker/distribution and the CRI do.
 * Pure and total: nothing here throws on bad input, so a malformed pod spec can never break a watch loop.
 *
 * Grammar (distribution/reference):
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component *( "/" path-component )
 *   domain    := ( domain-name | "[" ipv6 "]" ) [ ":" port ]
 *   tag       := [\w][\w.-]{0,127}
 */
import { isDigest } from './digest.js';

/** Registry that Docker Hub short names (`nginx`, `user/app`) belong to. */
export const DEFAULT_REGISTRY = 'docker.io';
/** Legacy Docker Hub host, rewritten to {@link DEFAULT_REGISTRY} as the CRI does. */
export const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
/** Path prefix of Docker Hub's official images (`nginx` → `library/nginx`). */
export const OFFICIAL_REPO_PREFIX = 'library/';
/** Tag applied when a reference has neither tag nor digest (kubelet and CRI do the same). @default "latest" */
export const DEFAULT_TAG = 'latest';
/** Longest accepted `registry/repository`, as in distribution/reference. */
export const NAME_TOTAL_LENGTH_MAX = 255;
/** Longest accepted tag. */
export const TAG_LENGTH_MAX = 128;
// Inputs beyond this cannot be valid (name + tag + a long digest); refusing early bounds the work per string.
const INPUT_LENGTH_MAX = 1024;

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** Registry host with optional port, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `library/nginx`. Always lowercase. */
  readonly repository: string;
  /** Tag; `latest` when the input had neither tag nor digest. Absent for a digest-only reference. */
  readonly tag?: string;
  /** Manifest (or index) digest, `sha256:<64 hex>`, when the input pinned one. */
  readonly digest?: string;
  /** The input exactly as given. */
  readonly original: string;
  /** Short Docker form of the normalised reference, e.g. `nginx:latest`, `user/app:1`, `quay.io/a/b:2`. */
  readonly familiar: string;
}

/** Why a reference was refused; `code` is stable for tests and metrics, `reason` is for humans. */
export type InvalidImageReferenceCode =
  | 'not-a-string'
  | 'empty'
  | 'too-long'
  | 'invalid-format'
  | 'invalid-domain'
  | 'uppercase-repository'
  | 'hex-repository'
  | 'name-too-long'
  | 'invalid-tag'
  | 'tag-too-long'
  | 'invalid-digest'
  | 'unsupported-digest-algorithm';

/** Typed error for a reference tote cannot use. */
export interface InvalidImageReference {
  readonly kind: 'InvalidImageReference';
  readonly code: InvalidImageReferenceCode;
  readonly reason: string;
}

/** Result of {@link parseImageReference}: never an exception. */
export type ParseImageReferenceResult =
  | { readonly ok: true; readonly ref: ImageReference }
  | { readonly ok: false; readonly error: InvalidImageReference };

const DOMAIN_COMPONENT = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]*$/;
const DIGEST_ALGORITHM = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*$/;
const HEX_64 = /^[a-f0-9]{64}$/;

function fail(code: InvalidImageReferenceCode, reason: string): ParseImageReferenceResult {
  return { ok: false, error: { kind: 'InvalidImageReference', code, reason } };
}

/** Splits `name[:tag][@digest]`; the tag colon is the first one after the last slash (a port colon comes before). */
function splitParts(s: string): { name: string; tag?: string; digest?: string } {
  const at = s.indexOf('@');
  const rest = at === -1 ? s : s.slice(0, at);
  const digest = at === -1 ? undefined : s.slice(at + 1);
  const colon = rest.indexOf(':', rest.lastIndexOf('/') + 1);
  if (colon === -1) return { name: rest, digest };
  return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
}

/** Docker's rule: the first component is a registry if it has a dot, a colon, is `localhost` or has uppercase. */
function splitDomain(name: string): { registry: string; remainder: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const isDomain =
    slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  let registry = isDomain ? first : DEFAULT_REGISTRY;
  let remainder = isDomain ? name.slice(slash + 1) : name;
  if (registry === LEGACY_DEFAULT_REGISTRY) registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { registry, remainder };
}

function validDomain(domain: string): boolean {
  const ipv6End = domain.startsWith('[') ? domain.indexOf(']') + 1 : 0;
  const portColon = domain.indexOf(':', ipv6End);
  const host = portColon === -1 ? domain : domain.slice(0, portColon);
  if (portColon !== -1 && !PORT.test(domain.slice(portColon + 1))) return false;
  if (ipv6End > 0) return IPV6_HOST.test(host);
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

function checkInput(s: string): ParseImageReferenceResult | undefined {
  if (s.length === 0) return fail('empty', 'image reference is empty');
  if (s.length > INPUT_LENGTH_MAX) {
    return fail('too-long', `image reference is longer than ${INPUT_LENGTH_MAX} characters`);
  }
  // distribution refuses a bare 64-hex name: it is indistinguishable from an image id.
  if (HEX_64.test(s)) {
    return fail('hex-repository', 'a 64-character hex string is an image id, not a repository name');
  }
  if (s.startsWith(':') || s.startsWith('@')) return fail('invalid-format', `"${s}" has no repository name`);
  return undefined;
}

function checkTag(tag: string | undefined): ParseImageReferenceResult | undefined {
  if (tag === undefined) return undefined;
  if (tag.length > TAG_LENGTH_MAX)
    return fail('tag-too-long', `tag is ${tag.length} characters, at most ${TAG_LENGTH_MAX} allowed`);
  if (!TAG.test(tag)) return fail('invalid-tag', `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]*`);
  return undefined;
}

function checkDigest(digest: string | undefined): ParseImageReferenceResult | undefined {
  if (digest === undefined || isDigest(digest)) return undefined;
  const algorithm = digest.slice(0, Math.max(digest.indexOf(':'), 0));
  if (algorithm !== 'sha256' && DIGEST_ALGORITHM.test(algorithm)) {
    return fail(
      'unsupported-digest-algorithm',
      `digest algorithm "${algorithm}" is not supported: tote supports sha256 only`,
    );
  }
  return fail('invalid-digest', `digest "${digest}" is not sha256: followed by 64 lowercase hex characters`);
}

function checkName(registry: string, remainder: string): ParseImageReferenceResult | undefined {
  if (!validDomain(registry))
    return fail('invalid-domain', `registry "${registry}" is not a valid host[:port]`);
  if (remainder.toLowerCase() !== remainder) {
    return fail('uppercase-repository', `repository "${remainder}" must be lowercase`);
  }
  if (!remainder.split('/').every((c) => PATH_COMPONENT.test(c))) {
    return fail('invalid-format', `repository "${remainder}" has an empty or invalid path component`);
  }
  const length = registry.length + 1 + remainder.length;
  if (length > NAME_TOTAL_LENGTH_MAX) {
    return fail('name-too-long', `name is ${length} characters, at most ${NAME_TOTAL_LENGTH_MAX} allowed`);
  }
  return undefined;
}

/**
 * Parses an image reference as kubelet and containerd would, applying Docker Hub defaults:
 * `nginx` → `docker.io/library/nginx:latest`, `user/app` → `docker.io/user/app:latest`,
 * `index.docker.io/x/y` → `docker.io/x/y`. Accepts tag and digest together. Only sha256 digests are accepted.
 * Never throws: every malformed input yields `{ ok: false, error }` with a typed {@link InvalidImageReferenceCode}.
 */
export function parseImageReference(s: unknown): ParseImageReferenceResult {
  if (typeof s !== 'string') return fail('not-a-string', `expected a string, got ${typeof s}`);
  const inputProblem = checkInput(s);
  if (inputProblem) return inputProblem;
  const parts = splitParts(s);
  const problem = checkTag(parts.tag) ?? checkDigest(parts.digest);
  if (problem) return problem;
  const { registry, remainder } = splitDomain(parts.name);
  const nameProblem = checkName(registry, remainder);
  if (nameProblem) return nameProblem;
  const tag = parts.tag ?? (parts.digest === undefined ? DEFAULT_TAG : undefined);
  const base = { registry, repository: remainder, tag, digest: parts.digest };
  const ref: ImageReference = { ...stripUndefined(base), original: s, familiar: familiarString(base) };
  return { ok: true, ref };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

type RefParts = Pick<ImageReference, 'registry' | 'repository' | 'tag' | 'digest'>;

function suffix(ref: RefParts): string {
  return `${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

function familiarString(ref: RefParts): string {
  const full = `${ref.registry}/${ref.repository}`;
  if (ref.registry !== DEFAULT_REGISTRY) return full + suffix(ref);
  const rest = ref.repository.slice(OFFICIAL_REPO_PREFIX.length);
  const official = ref.repository.startsWith(OFFICIAL_REPO_PREFIX) && !rest.includes('/');
  const short = official ? rest : ref.repository;
  // Docker's familiar form is ambiguous for `docker.io/a.b/c` (it would read back as registry a.b): keep it long.
  const back = splitDomain(short);
  const unambiguous = back.registry === ref.registry && back.remainder === ref.repository;
  return (unambiguous ? short : full) + suffix(ref);
}

/** `registry/repository`, the fully qualified name without tag or digest (e.g. `docker.io/library/nginx`). */
export function canonicalName(ref: RefParts): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Fully qualified string form, `registry/repository[:tag][@digest]`; parses back to the same reference. */
export function formatReference(ref: RefParts): string {
  return `${canonicalName(ref)}${suffix(ref)}`;
}

/**
 * The `name@digest` form kubelet and the CRI use for repo digests (any tag dropped), e.g.
 * `docker.io/library/nginx@sha256:…`. Throws a RangeError if `digest` is not a sha256 digest: that is a
 * programming error, since digests reach here only after {@link isDigest} or {@link parseImageReference}.
 */
export function withDigest(ref: RefParts, digest: string): string {
  if (!isDigest(digest)) throw new RangeError(`not a sha256 digest: "${digest}"`);
  return `${canonicalName(ref)}@${digest}`;
}

/** What a pod status `imageID` says about the image digest. */
export type ImageIdDigest =
  /** A repo digest (`name@sha256:…`): the root manifest or index digest, usable as the salvage digest. */
  | { readonly kind: 'manifest'; readonly digest: string; readonly name: string }
  /** A bare `sha256:…` image id: the image CONFIG digest, not a manifest digest; only a lookup hint. */
  | { readonly kind: 'config'; readonly digest: string }
  /** Empty or unusable; `reason` says why. */
  | { readonly kind: 'none'; readonly reason: string };

/**
 * Reads the digest from a container status `imageID`: `docker-pullable://repo@sha256:…`,
 * `docker.io/library/nginx@sha256:…` (containerd, CRI-O) or a bare `sha256:…`/`docker://sha256:…` image id.
 * Never throws.
 */
export function digestFromImageID(imageID: string | undefined): ImageIdDigest {
  if (!imageID) return { kind: 'none', reason: 'imageID is empty' };
  const id = imageID.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  if (isDigest(id)) return { kind: 'config', digest: id };
  if (!id.includes('@')) return { kind: 'none', reason: `imageID "${imageID}" holds no digest` };
  const parsed = parseImageReference(id);
  if (!parsed.ok) return { kind: 'none', reason: `imageID "${imageID}": ${parsed.error.reason}` };
  const { digest } = parsed.ref;
  if (digest === undefined) return { kind: 'none', reason: `imageID "${imageID}" holds no digest` };
  return { kind: 'manifest', digest, name: canonicalName(parsed.ref) };
}
