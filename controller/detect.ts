/**
 * Detection: which containers of a pod cannot start because of their image, and what tote should do about each.
 * Pure functions over the slim {@link Pod}; the watch layer calls them on every pod update.
 */
import { parseImageReference, formatReference, digestFromImageID } from '../common/image-ref.js';
import type { ImageReference, InvalidImageReference } from '../common/image-ref.js';
import { cleanupWorkflowId, salvageWorkflowId } from '../common/names.js';
import type { ContainerSpec, ContainerStatus, Pod } from './types.js';

/** Waiting reasons tote acts on. */
export const FAILURE_REASONS = ['ErrImagePull', 'ImagePullBackOff', 'CreateContainerError'] as const;
/** One of {@link FAILURE_REASONS}. */
export type FailureReason = (typeof FAILURE_REASONS)[number];
/** Which list a container comes from. */
export type ContainerKind = 'init' | 'regular' | 'ephemeral';

/** One container stuck because of its image. */
export interface DetectedFailure {
  /** Container name. */
  readonly container: string;
  /** Which list it is in. */
  readonly containerKind: ContainerKind;
  /** The waiting reason. */
  readonly reason: FailureReason;
  /** The image as written in the pod spec (the status may show a normalised name or an id). */
  readonly image: string;
  /** The image the status reports, when present; tells whether `imageID` belongs to `image`. */
  readonly statusImage?: string;
  /** The status `imageID`, when non-empty. */
  readonly imageID?: string;
  /** The node the pod is bound to. */
  readonly node: string;
  /** Kubelet's waiting message, when present. */
  readonly message?: string;
  /** The container's pull policy, when the spec says (always, once stored by the apiserver). */
  readonly pullPolicy?: string;
}

const LISTS = [
  ['init', 'initContainers', 'initContainerStatuses'],
  ['regular', 'containers', 'containerStatuses'],
  ['ephemeral', 'ephemeralContainers', 'ephemeralContainerStatuses'],
] as const;

function isFailureReason(reason: string | undefined): reason is FailureReason {
  return FAILURE_REASONS.some((r) => r === reason);
}

function toFailure(
  s: ContainerStatus,
  specs: readonly ContainerSpec[],
  base: { containerKind: ContainerKind; node: string },
): DetectedFailure | undefined {
  const waiting = s.state?.waiting;
  if (!isFailureReason(waiting?.reason)) return undefined;
  // The spec is the source of truth: status.image may be normalised, an image id, or absent.
  const spec = specs.find((c) => c.name === s.name);
  const image = spec?.image || s.image;
  if (!image) return undefined;
  return {
    container: s.name,
    reason: waiting.reason,
    image,
    ...base,
    ...(s.image ? { statusImage: s.image } : {}),
    ...(s.imageID ? { imageID: s.imageID } : {}),
    ...(waiting.message ? { message: waiting.message } : {}),
    ...(spec?.imagePullPolicy ? { pullPolicy: spec.imagePullPolicy } : {}),
  };
}

/**
 * Lists the containers (init, regular, ephemeral) whose `state.waiting.reason` is one of {@link FAILURE_REASONS}.
 * Unscheduled pods (no `spec.nodeName`) and terminating pods yield nothing: there is no node to salvage onto, or
 * no container that will use the image.
 */
export function detectFailures(pod: Pod): DetectedFailure[] {
  const node = pod.spec?.nodeName;
  if (!node || pod.metadata?.deletionTimestamp) return [];
  return LISTS.flatMap(([containerKind, specKey, statusKey]) => {
    const specs = pod.spec?.[specKey] ?? [];
    return (pod.status?.[statusKey] ?? []).flatMap((s) => toFailure(s, specs, { containerKind, node }) ?? []);
  });
}

/** Why a CreateContainerError message points at a corrupt or incomplete image. */
export type CorruptSignal =
  | 'content-not-found'
  | 'rootfs-unresolved'
  | 'layer-extract-failed'
  | 'diff-id-mismatch'
  | 'unexpected-eof'
  | 'snapshot-missing'
  | 'layer-not-known';

// Order matters only for the label reported; any match means the image's content is broken.
const CORRUPT_PATTERNS: ReadonlyArray<readonly [CorruptSignal, RegExp]> = [
  ['content-not-found', /content digest sha256:[a-f0-9]+\S*:? not found/i],
  ['rootfs-unresolved', /failed to resolve rootfs/i],
  ['diff-id-mismatch', /wrong diff id calculated|unexpected commit digest/i],
  ['unexpected-eof', /unexpected EOF/],
  ['layer-extract-failed', /failed to extract layer|error unpacking image|failed to unpack image/i],
  [
    'snapshot-missing',
    /failed to stat\b.*snapshot|missing parent .* bucket: not found|snapshot .* does not exist/i,
  ],
  ['layer-not-known', /layer not known|error creating read-write layer/i],
];
// Conditions where removing and re-fetching the image cannot help (and would make disk pressure worse).
const NOT_CORRUPT = /no space left on device|disk quota exceeded/i;

/** Classifies a CreateContainerError message: the corrupt-image signal it carries, or undefined if none. */
export function corruptImageSignal(message: string | undefined): CorruptSignal | undefined {
  if (!message || NOT_CORRUPT.test(message)) return undefined;
  return CORRUPT_PATTERNS.find(([, re]) => re.test(message))?.[0];
}

/** Steps of the tag resolution chain (docs/architecture.md), in order. `registry` runs only with `--registry-resolve`. */
export const RESOLUTION_STEPS = ['pod-image-id', 'node-status-images', 'agents', 'registry'] as const;
/** One of {@link RESOLUTION_STEPS}. */
export type ResolutionStep = (typeof RESOLUTION_STEPS)[number];

/** How the digest of the image to act on is known, or what is left to find it. */
export type DigestNeed =
  | { readonly known: true; readonly digest: string; readonly source: 'reference' | 'pod-image-id' }
  | {
      readonly known: false;
      /** The fully qualified tagged reference to resolve. */
      readonly reference: string;
      /** The remaining steps; `pod-image-id` has already been tried here. */
      readonly steps: readonly ResolutionStep[];
      /** Image CONFIG digest from a bare `sha256:` imageID: a lookup hint for agents, never the salvage digest. */
      readonly configDigest?: string;
    };

/** Fields shared by the two actionable plans. */
interface ActionBase {
  /** The parsed image reference. */
  readonly ref: ImageReference;
  /** The digest, or what is left to resolve it. */
  readonly digest: DigestNeed;
  /** Set when the digest is known: the id under which repeated starts join one workflow. */
  readonly workflowId?: string;
}

/** What to do about one {@link DetectedFailure}. */
export type ActionPlan =
  | (ActionBase & { readonly action: 'salvage'; readonly workflow: 'salvageImage' })
  | (ActionBase & {
      readonly action: 'cleanup';
      readonly workflow: 'cleanupCorruptImage';
      /** Which corrupt-image signal the message carried. */
      readonly signal: CorruptSignal;
      /** The missing blob named in the message, if any (a layer or config, not the image digest). */
      readonly missingBlob?: string;
    })
  | {
      readonly action: 'none';
      readonly why: 'not-image-related' | 'invalid-reference';
      readonly error?: InvalidImageReference;
    };

/** The status imageID is trusted only when the status reports the same image as the spec (docs/architecture.md). */
function sameImage(ref: ImageReference, statusImage: string | undefined): boolean {
  const status = parseImageReference(statusImage);
  return status.ok && formatReference(status.ref) === formatReference(ref);
}

/**
 * The digest need of a reference: pinned digests are known; for tag-only references the pod's imageID is tried
 * here (a repo digest of the same repository), and the rest of the chain is returned.
 */
export function digestNeed(
  ref: ImageReference,
  failure: Pick<DetectedFailure, 'imageID' | 'statusImage'>,
): DigestNeed {
  if (ref.digest) return { known: true, digest: ref.digest, source: 'reference' };
  const id = sameImage(ref, failure.statusImage) ? digestFromImageID(failure.imageID) : undefined;
  if (id?.kind === 'manifest' && id.name === `${ref.registry}/${ref.repository}`) {
    return { known: true, digest: id.digest, source: 'pod-image-id' };
  }
  return {
    known: false,
    reference: formatReference(ref),
    steps: RESOLUTION_STEPS.slice(1),
    ...(id?.kind === 'config' ? { configDigest: id.digest } : {}),
  };
}

function workflowIdField(
  digest: DigestNeed,
  node: string,
  idOf: (digest: string, node: string) => string,
): { workflowId?: string } {
  return digest.known ? { workflowId: idOf(digest.digest, node) } : {};
}

/**
 * Decides the action for a failure: pull failures → `salvageImage`; CreateContainerError whose message shows a
 * corrupt or incomplete image → `cleanupCorruptImage`; any other CreateContainerError (bad config, name clash,
 * missing ConfigMap, invalid mount) → none. An unparseable image → none, with the typed error.
 */
export function planAction(failure: DetectedFailure): ActionPlan {
  const createError = failure.reason === 'CreateContainerError';
  const signal = createError ? corruptImageSignal(failure.message) : undefined;
  if (createError && !signal) return { action: 'none', why: 'not-image-related' };
  const parsed = parseImageReference(failure.image);
  if (!parsed.ok) return { action: 'none', why: 'invalid-reference', error: parsed.error };
  const digest = digestNeed(parsed.ref, failure);
  const base = { ref: parsed.ref, digest };
  if (!signal) {
    const workflowId = workflowIdField(digest, failure.node, salvageWorkflowId);
    return { action: 'salvage', workflow: 'salvageImage', ...base, ...workflowId };
  }
  const missingBlob = /content digest (sha256:[a-f0-9]{64})/.exec(failure.message ?? '')?.[1];
  return {
    action: 'cleanup',
    workflow: 'cleanupCorruptImage',
    ...base,
    signal,
    ...workflowIdField(digest, failure.node, cleanupWorkflowId),
    ...(missingBlob ? { missingBlob } : {}),
  };
}
