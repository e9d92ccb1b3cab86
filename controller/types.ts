/**
 * The slim shapes of Pods, Namespaces and owners the controller keeps in memory.
 * They mirror the Kubernetes JSON layout, so a `V1Pod` from @kubernetes/client-node is assignable to {@link Pod}
 * without this module importing it: pure modules stay free of the client (docs/conventions.md, module boundaries), and the `slim*`
 * projections below drop everything detection and opt-in do not read (the 10,000-pod memory budget).
 */
import { ANNOTATION_PREFIX } from '../common/names.js';

/** Annotations as the API returns them. */
export type Annotations = Readonly<Record<string, string>>;

/** A reference from an object to its owner (`metadata.ownerReferences[]`). */
export interface OwnerReference {
  /** Group/version of the owner, e.g. `apps/v1`; tells an `apps` ReplicaSet from a look-alike CRD. */
  readonly apiVersion: string;
  /** Kind of the owner, e.g. `ReplicaSet`. */
  readonly kind: string;
  /** Name of the owner, in the same namespace. */
  readonly name: string;
  /** UID of the owner, to tell a recreated owner of the same name apart. */
  readonly uid?: string;
  /** True for the managing controller. */
  readonly controller?: boolean;
}

/** The part of `metadata` the controller reads. */
export interface ObjectMeta {
  /** Object name. */
  readonly name?: string;
  /** Namespace (absent on Namespaces themselves). */
  readonly namespace?: string;
  /** UID, for events and for telling recreated objects apart. */
  readonly uid?: string;
  /** Resource version, for the informer's bookkeeping. */
  readonly resourceVersion?: string;
  /** Set once deletion has started. */
  readonly deletionTimestamp?: Date | string;
  /** Annotations; the slim forms keep only `tote.dev/*` ones. */
  readonly annotations?: Annotations;
  /** Owners, used to inherit `tote.dev/auto-salvage`. */
  readonly ownerReferences?: readonly OwnerReference[];
}

/** A container, init container or ephemeral container in the pod spec. */
export interface ContainerSpec {
  /** Container name, unique across all three lists in a pod. */
  readonly name: string;
  /** Image reference exactly as written in the spec. */
  readonly image?: string;
  /** As stored: the apiserver defaults it (Always for `:latest` or no tag, else IfNotPresent). */
  readonly imagePullPolicy?: string;
}

/** Why a container is not running yet (`state.waiting`). */
export interface ContainerStateWaiting {
  /** Machine-readable reason, e.g. `ImagePullBackOff`. */
  readonly reason?: string;
  /** Kubelet's message, e.g. the runtime's error text. */
  readonly message?: string;
}

/** One entry of `status.containerStatuses` (or the init/ephemeral lists). */
export interface ContainerStatus {
  /** Container name, matching a {@link ContainerSpec}. */
  readonly name: string;
  /** Image as the runtime reports it; may differ from the spec (normalised, or an id). */
  readonly image?: string;
  /** Runtime image id: a repo digest (`name@sha256:…`) or a bare config digest; often empty while waiting. */
  readonly imageID?: string;
  /** Current state; only `waiting` matters to tote. */
  readonly state?: { readonly waiting?: ContainerStateWaiting };
}

/** The pod spec fields the controller reads. */
export interface PodSpec {
  /** Node the pod is bound to; absent while unscheduled. */
  readonly nodeName?: string;
  /** Regular containers. */
  readonly containers?: readonly ContainerSpec[];
  /** Init containers. */
  readonly initContainers?: readonly ContainerSpec[];
  /** Ephemeral (debug) containers. */
  readonly ephemeralContainers?: readonly ContainerSpec[];
}

/** The pod status fields the controller reads. */
export interface PodStatus {
  /** Statuses of regular containers. */
  readonly containerStatuses?: readonly ContainerStatus[];
  /** Statuses of init containers. */
  readonly initContainerStatuses?: readonly ContainerStatus[];
  /** Statuses of ephemeral containers. */
  readonly ephemeralContainerStatuses?: readonly ContainerStatus[];
}

/** A Pod as the controller keeps it. */
export interface Pod {
  /** Name, namespace, annotations, owners. */
  readonly metadata?: ObjectMeta;
  /** Node and containers. */
  readonly spec?: PodSpec;
  /** Container states. */
  readonly status?: PodStatus;
}

/** A Namespace as the controller keeps it. */
export interface Namespace {
  /** Name and annotations. */
  readonly metadata?: Pick<ObjectMeta, 'name' | 'uid' | 'resourceVersion' | 'annotations'>;
}

/** An owner object (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, CronJob) as fetched by the I/O layer. */
export interface OwnerObject {
  /** Kind; required because typed list responses often omit it, so the fetcher must set it. */
  readonly kind: string;
  /** Name, namespace, annotations and the owner's own owners. */
  readonly metadata?: ObjectMeta;
}

function toteAnnotations(annotations: Annotations | undefined): Annotations | undefined {
  if (!annotations) return undefined;
  const kept = Object.entries(annotations).filter(([k]) => k.startsWith(ANNOTATION_PREFIX));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

function slimMeta(m: ObjectMeta | undefined): ObjectMeta {
  return {
    name: m?.name,
    namespace: m?.namespace,
    uid: m?.uid,
    resourceVersion: m?.resourceVersion,
    deletionTimestamp: m?.deletionTimestamp,
    annotations: toteAnnotations(m?.annotations),
    ownerReferences: m?.ownerReferences?.map((o) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.name,
      uid: o.uid,
      controller: o.controller,
    })),
  };
}

function slimContainers(list: readonly ContainerSpec[] | undefined): ContainerSpec[] | undefined {
  return list?.map((c) => ({
    name: c.name,
    image: c.image,
    ...(c.imagePullPolicy ? { imagePullPolicy: c.imagePullPolicy } : {}),
  }));
}

function slimStatuses(list: readonly ContainerStatus[] | undefined): ContainerStatus[] | undefined {
  return list?.map((s) => ({
    name: s.name,
    image: s.image,
    imageID: s.imageID,
    state: s.state?.waiting
      ? { waiting: { reason: s.state.waiting.reason, message: s.state.waiting.message } }
      : undefined,
  }));
}

/**
 * Copies only what detection and opt-in read: names, owners, `tote.dev/*` annotations, node, images and waiting
 * states. Drops everything else (env, volumes, last-applied-configuration, running states).
 */
export function slimPod(pod: Pod): Pod {
  return {
    metadata: slimMeta(pod.metadata),
    spec: {
      nodeName: pod.spec?.nodeName,
      containers: slimContainers(pod.spec?.containers),
      initContainers: slimContainers(pod.spec?.initContainers),
      ephemeralContainers: slimContainers(pod.spec?.ephemeralContainers),
    },
    status: {
      containerStatuses: slimStatuses(pod.status?.containerStatuses),
      initContainerStatuses: slimStatuses(pod.status?.initContainerStatuses),
      ephemeralContainerStatuses: slimStatuses(pod.status?.ephemeralContainerStatuses),
    },
  };
}

/** Copies a Namespace's name, uid, resource version and `tote.dev/*` annotations. */
export function slimNamespace(ns: Namespace): Namespace {
  const m = ns.metadata;
  return {
    metadata: {
      name: m?.name,
      uid: m?.uid,
      resourceVersion: m?.resourceVersion,
      annotations: toteAnnotations(m?.annotations),
    },
  };
}

/** Copies an owner's kind, metadata needed for inheritance, and `tote.dev/*` annotations. */
export function slimOwner(owner: OwnerObject): OwnerObject {
  return { kind: owner.kind, metadata: slimMeta(owner.metadata) };
}
