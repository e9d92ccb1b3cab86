/**
 * Whether tote may act on a pod: the global kill switch, hard-denied namespaces, the namespace opt-in
 * (`tote.dev/allow`) and the workload opt-in (`tote.dev/auto-salvage` on the pod or inherited from its owners,
 * two levels up). Pure: the I/O layer fetches what {@link ownerChainToFetch} and {@link parentsToFetch} name. The
 * workload vote and the mode are common/opt-in.ts's rules, which the worker applies again before it acts.
 */
import { ANNOTATIONS, DENIED_NAMESPACES, type SalvageMode } from '../common/names.js';
import {
  annotationValue,
  modeOf,
  ownersToFollow,
  parentsToFollow,
  workloadVote,
  type Vote,
} from '../common/opt-in.js';
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
  return ownersToFollow(pod.metadata ?? {}).map((r) => toKey(r, namespace));
}

/**
 * The second-level owners of a fetched first-level owner: a ReplicaSet's Deployment, a Job's CronJob.
 * Empty for every other kind, which is what bounds the chain to two levels.
 */
export function parentsToFetch(owner: OwnerObject): readonly OwnerKey[] {
  const namespace = owner.metadata?.namespace ?? '';
  return parentsToFollow(owner).map((r) => toKey(r, namespace));
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

interface Reader {
  readonly problems: ObjectAnnotationProblem[];
}

/** The common rule's vote, with the annotation problems of every object it read. */
function voteWithProblems(reader: Reader, pod: Pod, owners: readonly OwnerObject[]): Vote | undefined {
  const { vote, read } = workloadVote(pod.metadata, owners);
  for (const { kind, metadata } of read) {
    const object = { kind, name: metadata?.name ?? '' };
    const { problems } = readToteAnnotations(metadata?.annotations, 'workload');
    reader.problems.push(...problems.map((p) => ({ ...p, object })));
  }
  return vote;
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
 * (which overrides any owner), else on its owner chain. The mode is the namespace's `tote.dev/mode` (an invalid
 * value reads as `detect-only`), else `defaultMode`. Annotation problems of every object read are returned, whatever the outcome.
 */
export function decideOptIn(input: OptInInput): OptInDecision {
  if (!input.enabled) return { allowed: false, why: 'disabled', problems: [] };
  const reader: Reader = { problems: [] };
  const nsProblem = namespaceGuard(input, reader);
  if (nsProblem) return { allowed: false, why: nsProblem, problems: reader.problems };
  const vote = voteWithProblems(reader, input.pod, input.owners);
  if (!vote) return { allowed: false, why: 'pod-not-opted-in', problems: reader.problems };
  if (!vote.value)
    return { allowed: false, why: 'pod-opted-out', decidedBy: vote.by, problems: reader.problems };
  const nsMode = annotationValue(input.namespace?.metadata?.annotations, ANNOTATIONS.mode);
  const mode = modeOf(nsMode, input.defaultMode ?? 'auto');
  return { allowed: true, mode, decidedBy: vote.by, problems: reader.problems };
}
