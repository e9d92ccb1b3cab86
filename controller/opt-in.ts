/**
 * Whether tote may act on a pod: the global kill switch, hard-denied namespaces, the namespace opt-in
 * (`tote.dev/allow`) and the workload opt-in (`tote.dev/auto-salvage` on the pod or inherited from its owners,
 * two levels up). Pure: the I/O layer fetches what {@link ownerChainToFetch} and {@link parentsToFetch} name.
 */
import { DENIED_NAMESPACES, type SalvageMode } from '../common/names.js';
import { readToteAnnotations, type AnnotationProblem } from './annotations.js';
import type { Namespace, OwnerObject, OwnerReference, Pod } from './types.js';

/** An owner the I/O layer should fetch (and may cache under {@link ownerKeyString}). */
export interface OwnerKey {
  /** API group/version, e.g. `apps/v1`. */
  readonly apiVersion: string;
  /** Kind, e.g. `ReplicaSet`. */
  readonly kind: string;
  /** Name. */
  readonly name: string;
  /** Namespace (owners are namespaced like the pod). */
  readonly namespace: string;
}

/**
 * Owner kinds tote follows, with their API group and the parent kinds it follows one level further.
 * ReplicaSet → Deployment and Job → CronJob; the chain stops at two levels.
 */
export const OWNER_KINDS: Readonly<Record<string, { group: string; parents: readonly string[] }>> = {
  ReplicaSet: { group: 'apps', parents: ['Deployment'] },
  StatefulSet: { group: 'apps', parents: [] },
  DaemonSet: { group: 'apps', parents: [] },
  Job: { group: 'batch', parents: ['CronJob'] },
};
const PARENT_GROUPS: Readonly<Record<string, string>> = { Deployment: 'apps', CronJob: 'batch' };

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
}

function toKey(ref: OwnerReference, namespace: string): OwnerKey {
  return { apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name, namespace };
}

/** `namespace/kind/name`, a cache key for owner lookups. */
export function ownerKeyString(key: Pick<OwnerKey, 'kind' | 'name' | 'namespace'>): string {
  return `${key.namespace}/${key.kind}/${key.name}`;
}

/**
 * The pod's first-level owners tote follows (ReplicaSet, StatefulSet, DaemonSet, Job of the `apps`/`batch`
 * groups; look-alike kinds of other API groups are skipped). Fetch each, then ask {@link parentsToFetch}.
 */
export function ownerChainToFetch(pod: Pod): readonly OwnerKey[] {
  const namespace = pod.metadata?.namespace ?? '';
  return (pod.metadata?.ownerReferences ?? [])
    .filter((r) => OWNER_KINDS[r.kind]?.group === groupOf(r.apiVersion))
    .map((r) => toKey(r, namespace));
}

/**
 * The second-level owners of a fetched first-level owner: a ReplicaSet's Deployment, a Job's CronJob.
 * Empty for every other kind, which is what bounds the chain to two levels.
 */
export function parentsToFetch(owner: OwnerObject): readonly OwnerKey[] {
  const parents = OWNER_KINDS[owner.kind]?.parents ?? [];
  const namespace = owner.metadata?.namespace ?? '';
  return (owner.metadata?.ownerReferences ?? [])
    .filter((r) => parents.includes(r.kind) && PARENT_GROUPS[r.kind] === groupOf(r.apiVersion))
    .map((r) => toKey(r, namespace));
}

/** Why tote will not act on a pod. */
export type OptOutReason =
  | 'disabled'
  | 'denied-namespace'
  | 'namespace-unknown'
  | 'namespace-not-opted-in'
  | 'pod-opted-out'
  | 'pod-not-opted-in';

/** An annotation problem with the object it was found on. */
export interface ObjectAnnotationProblem extends AnnotationProblem {
  /** The object carrying the bad annotation. */
  readonly object: { readonly kind: string; readonly name: string };
}

/** The object whose `tote.dev/auto-salvage` decided. */
export interface DecidedBy {
  /** `Pod` or the owner's kind. */
  readonly kind: string;
  /** Its name. */
  readonly name: string;
}

/** Outcome of {@link decideOptIn}; `problems` are reported as Warning events either way. */
export type OptInDecision =
  | {
      readonly allowed: true;
      readonly mode: SalvageMode;
      readonly decidedBy: DecidedBy;
      readonly problems: readonly ObjectAnnotationProblem[];
    }
  | {
      readonly allowed: false;
      readonly why: OptOutReason;
      readonly decidedBy?: DecidedBy;
      readonly problems: readonly ObjectAnnotationProblem[];
    };

/** Input of {@link decideOptIn}. */
export interface OptInInput {
  /** The pod's Namespace, or undefined when it is not (yet) in the cache. */
  readonly namespace: Namespace | undefined;
  /** The pod. */
  readonly pod: Pod;
  /** Owners fetched via {@link ownerChainToFetch} and {@link parentsToFetch}, in any order; missing ones are skipped. */
  readonly owners: readonly OwnerObject[];
  /** The global kill switch (`--enabled`). */
  readonly enabled: boolean;
  /** Mode when the namespace sets none. @default "auto" */
  readonly defaultMode?: SalvageMode;
}

interface Vote {
  readonly value: boolean;
  readonly by: DecidedBy;
}

interface Reader {
  readonly problems: ObjectAnnotationProblem[];
  /** The object's explicit auto-salvage value, recording its problems. */
  vote(kind: string, meta: OwnerObject['metadata']): Vote | undefined;
}

function makeReader(): Reader {
  const problems: ObjectAnnotationProblem[] = [];
  return {
    problems,
    vote(kind, meta) {
      const name = meta?.name ?? '';
      const { values, problems: found } = readToteAnnotations(meta?.annotations, 'workload');
      problems.push(...found.map((p) => ({ ...p, object: { kind, name } })));
      return values.autoSalvage === undefined ? undefined : { value: values.autoSalvage, by: { kind, name } };
    },
  };
}

function findOwner(owners: readonly OwnerObject[], key: OwnerKey): OwnerObject | undefined {
  return owners.find((o) => o.kind === key.kind && o.metadata?.name === key.name);
}

/** The nearest explicit value along one chain: the first-level owner's, else its parent's. */
function chainVote(reader: Reader, owners: readonly OwnerObject[], key: OwnerKey): Vote | undefined {
  const owner = findOwner(owners, key);
  if (!owner) return undefined;
  const own = reader.vote(owner.kind, owner.metadata);
  const parents = parentsToFetch(owner).map((k) => findOwner(owners, k));
  const inherited = parents.map((p) => p && reader.vote(p.kind, p.metadata)).find((v) => v !== undefined);
  return own ?? inherited;
}

/** Pod first; else every owner chain, where an explicit "false" on any chain wins over "true" on another. */
function workloadVote(reader: Reader, pod: Pod, owners: readonly OwnerObject[]): Vote | undefined {
  const own = reader.vote('Pod', pod.metadata);
  const chains = ownerChainToFetch(pod).map((k) => chainVote(reader, owners, k));
  return own ?? chains.find((v) => v?.value === false) ?? chains.find((v) => v?.value === true);
}

function namespaceGuard(input: OptInInput, reader: Reader): OptOutReason | undefined {
  const name = input.pod.metadata?.namespace ?? input.namespace?.metadata?.name ?? '';
  if (DENIED_NAMESPACES.includes(name)) return 'denied-namespace';
  if (!input.namespace || input.namespace.metadata?.name !== name) return 'namespace-unknown';
  const { values, problems } = readToteAnnotations(input.namespace.metadata.annotations, 'namespace');
  reader.problems.push(...problems.map((p) => ({ ...p, object: { kind: 'Namespace', name } })));
  return values.allow === true ? undefined : 'namespace-not-opted-in';
}

/**
 * Decides whether tote may act on `pod`, and in which mode. Guards, in order: kill switch, hard-denied namespace,
 * namespace not in cache, namespace without `tote.dev/allow: "true"`, then `tote.dev/auto-salvage` on the pod
 * (which overrides any owner), else on its owner chain. The mode is the namespace's `tote.dev/mode`, else
 * `defaultMode`. Annotation problems of every object read are returned, whatever the outcome.
 */
export function decideOptIn(input: OptInInput): OptInDecision {
  if (!input.enabled) return { allowed: false, why: 'disabled', problems: [] };
  const reader = makeReader();
  const nsProblem = namespaceGuard(input, reader);
  if (nsProblem) return { allowed: false, why: nsProblem, problems: reader.problems };
  const vote = workloadVote(reader, input.pod, input.owners);
  if (!vote) return { allowed: false, why: 'pod-not-opted-in', problems: reader.problems };
  if (!vote.value)
    return { allowed: false, why: 'pod-opted-out', decidedBy: vote.by, problems: reader.problems };
  const nsMode = readToteAnnotations(input.namespace?.metadata?.annotations, 'namespace').values.mode;
  const mode = nsMode ?? input.defaultMode ?? 'auto';
  return { allowed: true, mode, decidedBy: vote.by, problems: reader.problems };
}
