/**
 * The opt-in rules, in one place: the controller applies them before it starts a salvage, the worker again right
 * before it acts (an approval may wait for hours, and an annotation may change meanwhile). Pure: each process
 * fetches the objects its own way (the controller from its caches, the worker from the API), and this module
 * decides which of them count and which value wins.
 *
 * - `tote.dev/mode` (on the Namespace): absent → the configured mode (`--mode`); a known mode → that mode;
 *   anything else → `detect-only`, the mode that changes nothing ({@link modeOf}).
 * - `tote.dev/auto-salvage` (on the Pod or an owner): `"true"` opts in, any other present value reads as
 *   `"false"`. The pod's own value wins; else each owner chain gives its nearest value (first-level owner, else
 *   its parent), and a `"false"` on any chain wins over a `"true"` on another ({@link workloadVote}). Only the
 *   owners of {@link OWNER_KINDS} count, of their own API group, two levels up at most.
 */
import { ANNOTATIONS, SALVAGE_MODES, type SalvageMode } from './names.js';

/** What an invalid `tote.dev/mode` reads as: the mode that changes nothing. */
export const INVALID_MODE: SalvageMode = 'detect-only';

/** True for one of {@link SALVAGE_MODES}, exactly as written. */
export function isSalvageMode(value: string): value is SalvageMode {
  return SALVAGE_MODES.some((m) => m === value);
}

/** The mode a present `tote.dev/mode` value selects: a known mode, else {@link INVALID_MODE}. */
export function annotatedMode(value: string): SalvageMode {
  return isSalvageMode(value) ? value : INVALID_MODE;
}

/**
 * The mode tote acts in: the namespace's `tote.dev/mode` when present (an invalid value reads as
 * {@link INVALID_MODE}, never as the configured mode), else `configured` (the `--mode` of the process).
 */
export function modeOf(value: string | undefined, configured: SalvageMode): SalvageMode {
  return value === undefined ? configured : annotatedMode(value);
}

/** A boolean annotation: absent → undefined, `"true"` → true, any other value → false (the safe reading). */
export function booleanOf(value: string | undefined): boolean | undefined {
  return value === undefined ? undefined : value === 'true';
}

/**
 * An annotation value as text. The apiserver only sends strings, but a hand-made object may carry anything, and
 * `String()` itself throws for an object whose `toString` is not a function.
 */
export function annotationText(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** The value of `key` in `annotations` as text, or undefined when the key is absent. */
export function annotationValue(
  annotations: Readonly<Record<string, unknown>> | undefined,
  key: string,
): string | undefined {
  return annotations && Object.hasOwn(annotations, key) ? annotationText(annotations[key]) : undefined;
}

/** An owner reference as both processes hold it. */
export interface OwnerRefLike {
  /**
   * Group/version of the owner, e.g. `apps/v1`. The apiserver always sets it; when a caller's adapter does not
   * pass it on, the reference is matched on its kind alone.
   */
  readonly apiVersion?: string;
  /** Kind, e.g. `ReplicaSet`. */
  readonly kind: string;
  /** Name, in the pod's namespace. */
  readonly name: string;
}

/** The metadata the rules read. */
export interface MetaLike {
  /** Object name. */
  readonly name?: string;
  /** Annotations (only `tote.dev/auto-salvage` is read here). */
  readonly annotations?: Readonly<Record<string, unknown>>;
  /** Owners. */
  readonly ownerReferences?: readonly OwnerRefLike[];
}

/** A fetched owner object: its kind (which typed responses often omit, so the fetcher sets it) and metadata. */
export interface FetchedObject {
  /** `Pod` or the owner's kind. */
  readonly kind: string;
  /** Name, annotations and the object's own owners. */
  readonly metadata?: MetaLike;
}

/** One kind the opt-in reads: where it sits in the chain, its API group and version, and its REST resource. */
export interface FollowedKindInfo {
  /** 1: may own a pod; 2: a parent of a first-level owner (the last level read). */
  readonly level: 1 | 2;
  readonly group: string;
  readonly version: string;
  /** Plural resource name in the REST path. */
  readonly resource: string;
  /** Kinds followed one level further (first level only). */
  readonly parents: readonly string[];
}

/**
 * Every kind the opt-in reads, the one table the controller's owner fetcher and the worker's `getOwner` read
 * too: the pod's owners of the `apps`/`batch` groups, and the parents followed one level further, ReplicaSet →
 * Deployment and Job → CronJob. MAINTENANCE: docs/cli-reference.md (annotations) lists them.
 */
export const FOLLOWED_KINDS = {
  ReplicaSet: { level: 1, group: 'apps', version: 'v1', resource: 'replicasets', parents: ['Deployment'] },
  StatefulSet: { level: 1, group: 'apps', version: 'v1', resource: 'statefulsets', parents: [] },
  DaemonSet: { level: 1, group: 'apps', version: 'v1', resource: 'daemonsets', parents: [] },
  Job: { level: 1, group: 'batch', version: 'v1', resource: 'jobs', parents: ['CronJob'] },
  Deployment: { level: 2, group: 'apps', version: 'v1', resource: 'deployments', parents: [] },
  CronJob: { level: 2, group: 'batch', version: 'v1', resource: 'cronjobs', parents: [] },
} as const satisfies Record<string, FollowedKindInfo>;

/** One of {@link FOLLOWED_KINDS}. */
export type FollowedKind = keyof typeof FOLLOWED_KINDS;

/** True for a kind of {@link FOLLOWED_KINDS}. */
export function isFollowedKind(kind: string): kind is FollowedKind {
  return Object.hasOwn(FOLLOWED_KINDS, kind);
}

/** The entry of `kind` in {@link FOLLOWED_KINDS}; undefined for any other kind. */
export function followedKind(kind: string): FollowedKindInfo | undefined {
  return isFollowedKind(kind) ? FOLLOWED_KINDS[kind] : undefined;
}

/** The first-level kinds: those whose ownership of a pod counts. */
export const OWNER_KINDS: readonly FollowedKind[] = (Object.keys(FOLLOWED_KINDS) as FollowedKind[]).filter(
  (k) => FOLLOWED_KINDS[k].level === 1,
);

/** How many owner levels above the pod count: the parents of {@link OWNER_KINDS} are the last. */
export const OWNER_LEVELS = 2;

/** The REST path of an object of a followed kind, e.g. `/apis/apps/v1/namespaces/shop/replicasets/web-1`. */
export function ownerApiPath(kind: string, namespace: string, name: string): string | undefined {
  const k = followedKind(kind);
  if (!k) return undefined;
  const ns = encodeURIComponent(namespace);
  return `/apis/${k.group}/${k.version}/namespaces/${ns}/${k.resource}/${encodeURIComponent(name)}`;
}

/** The API group of an `apiVersion`: `apps` for `apps/v1`, `` for the core `v1`. */
export function apiGroupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

function ofGroup(ref: OwnerRefLike, group: string | undefined): boolean {
  if (group === undefined) return false;
  return ref.apiVersion === undefined || apiGroupOf(ref.apiVersion) === group;
}

/**
 * The pod's first-level owners that count: ReplicaSet, StatefulSet, DaemonSet and Job of the `apps`/`batch`
 * groups; look-alike kinds of other API groups are skipped. Fetch each, then ask {@link parentsToFollow}.
 */
export function ownersToFollow<R extends OwnerRefLike>(pod: {
  readonly ownerReferences?: readonly R[];
}): R[] {
  return (pod.ownerReferences ?? []).filter((r) => {
    const k = followedKind(r.kind);
    return k?.level === 1 && ofGroup(r, k.group);
  });
}

/**
 * The second-level owners of a fetched first-level owner: a ReplicaSet's Deployment, a Job's CronJob. Empty for
 * every other kind, which is what bounds the chain to {@link OWNER_LEVELS}.
 */
export function parentsToFollow<R extends OwnerRefLike>(owner: {
  readonly kind: string;
  readonly metadata?: { readonly ownerReferences?: readonly R[] };
}): R[] {
  const parents = followedKind(owner.kind)?.parents ?? [];
  return (owner.metadata?.ownerReferences ?? []).filter(
    (r) => parents.includes(r.kind) && ofGroup(r, followedKind(r.kind)?.group),
  );
}

/** The explicit `tote.dev/auto-salvage` value that decided, and the object carrying it. */
export interface Vote {
  /** True: opted in; false: opted out (`"false"` or an invalid value). */
  readonly value: boolean;
  /** `Pod` or the owner's kind, and its name. */
  readonly by: { readonly kind: string; readonly name: string };
}

/** Result of {@link workloadVote}. */
export interface WorkloadVote {
  /** The deciding value; undefined when neither the pod nor a followed owner carries the annotation. */
  readonly vote: Vote | undefined;
  /** Every object whose annotations were read (the pod first, then each chain's owners), for problem reports. */
  readonly read: readonly FetchedObject[];
}

function findOwner(owners: readonly FetchedObject[], ref: OwnerRefLike): FetchedObject | undefined {
  return owners.find((o) => o.kind === ref.kind && o.metadata?.name === ref.name);
}

function voteOf(object: FetchedObject, read: FetchedObject[]): Vote | undefined {
  read.push(object);
  const value = booleanOf(annotationValue(object.metadata?.annotations, ANNOTATIONS.autoSalvage));
  return value === undefined
    ? undefined
    : { value, by: { kind: object.kind, name: object.metadata?.name ?? '' } };
}

/** The nearest explicit value along one chain: the first-level owner's, else its parent's. */
function chainVote(
  owners: readonly FetchedObject[],
  ref: OwnerRefLike,
  read: FetchedObject[],
): Vote | undefined {
  const owner = findOwner(owners, ref);
  if (!owner) return undefined;
  const own = voteOf(owner, read);
  const parents = parentsToFollow(owner).map((r) => findOwner(owners, r));
  const inherited = parents.map((p) => p && voteOf(p, read)).find((v) => v !== undefined);
  return own ?? inherited;
}

/**
 * Whether the workload opts in, over the pod and the owners fetched via {@link ownersToFollow} and
 * {@link parentsToFollow} (in any order; missing ones are skipped, other objects ignored): the pod's own value
 * first; else every owner chain, where an explicit "false" on any chain wins over "true" on another.
 */
export function workloadVote(pod: MetaLike | undefined, owners: readonly FetchedObject[]): WorkloadVote {
  const read: FetchedObject[] = [];
  const own = voteOf({ kind: 'Pod', metadata: pod }, read);
  const chains = ownersToFollow(pod ?? {}).map((r) => chainVote(owners, r, read));
  const vote = own ?? chains.find((v) => v?.value === false) ?? chains.find((v) => v?.value === true);
  return { vote, read };
}
