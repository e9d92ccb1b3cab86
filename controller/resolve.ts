/**
 * Tag → digest, the cluster-local part of the chain (docs/architecture.md): the failing pod's own status `imageID` (done by
 * detect.ts `digestNeed`), the `imageID` of any other pod running the same reference, then `Node.status.images`.
 * The agents and (with `--registry-resolve`) the registry are asked by the `resolveImage` workflow, because the
 * controller never talks to agents or registries itself; {@link RemoteResolver} is how the reconciler reaches it.
 */
import {
  canonicalName,
  digestFromImageID,
  formatReference,
  parseImageReference,
} from '../common/image-ref.js';
import { digestForTagFromNodes, nodeDigestVotes, type ImageEntries } from '../common/node-images.js';
import type { DigestNeed, ResolutionStep } from './detect.js';
import type { ContainerStatus, Pod } from './types.js';

/** A Node as resolution keeps it: only `status.images` entries that pair a tag with a repo digest. */
export interface NodeImages {
  /** Node name. */
  readonly name: string;
  /** Resource version, for the informer. */
  readonly resourceVersion?: string;
  /** Each entry's names (`repo@sha256:…` and `repo:tag`), as kubelet reports them. */
  readonly images: ImageEntries;
}

/** The Node fields {@link slimNode} reads (a `V1Node` is assignable). */
export interface NodeLike {
  readonly metadata?: { readonly name?: string; readonly resourceVersion?: string };
  readonly status?: { readonly images?: readonly { readonly names?: readonly string[] | null }[] | null };
}

/** Keeps only the image entries that can answer "which digest does this tag have here". */
export function slimNode(node: NodeLike): NodeImages {
  const images = (node.status?.images ?? [])
    .map((i) => i.names ?? [])
    .filter((names) => names.some((n) => n.includes('@sha256:')) && names.some((n) => !n.includes('@')))
    .map((names) => [...names]);
  return { name: node.metadata?.name ?? '', resourceVersion: node.metadata?.resourceVersion, images };
}

/** How a digest was found locally. */
export type LocalVia = 'reference' | 'pod-image-id' | 'other-pod-image-id' | 'node-status-images';

/** Result of {@link resolveLocally}. */
export type LocalResolution =
  | { readonly digest: string; readonly via: LocalVia }
  | {
      readonly digest?: undefined;
      /** The fully qualified tagged reference still to resolve. */
      readonly reference: string;
      /** Steps left for the `resolveImage` workflow (`agents`, `registry`). */
      readonly steps: readonly ResolutionStep[];
      /** Config digest hint from a bare `sha256:` imageID. */
      readonly configDigest?: string;
    };

/** What the local chain reads: the informers' caches. */
export interface LocalResolveContext {
  /** Every cached pod. */
  pods(): Iterable<Pod>;
  /** Every cached node. */
  nodes(): Iterable<NodeImages>;
}

/** The normalised form of a reference, or undefined when it does not parse (memoised: the same few repeat). */
function normaliser(): (s: string) => string | undefined {
  const memo = new Map<string, string | undefined>();
  return (s) => {
    if (memo.has(s)) return memo.get(s);
    const p = parseImageReference(s);
    const v = p.ok ? formatReference(p.ref) : undefined;
    memo.set(s, v);
    return v;
  };
}

/** The most frequent value (ties: the first seen), or undefined. */
function mostCommon(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [v, n] of counts) if (best === undefined || n > (counts.get(best) ?? 0)) best = v;
  return best;
}

function statusesOf(pod: Pod): ContainerStatus[] {
  const st = pod.status;
  return [
    ...(st?.containerStatuses ?? []),
    ...(st?.initContainerStatuses ?? []),
    ...(st?.ephemeralContainerStatuses ?? []),
  ];
}

/** Digests reported by pods whose container runs `reference` (statuses whose image matches the spec's). */
export function digestsFromPods(reference: string, pods: Iterable<Pod>): string[] {
  const norm = normaliser();
  const name = canonicalOf(reference);
  const found: string[] = [];
  for (const pod of pods) {
    for (const s of statusesOf(pod)) {
      if (!s.imageID || !s.image || norm(s.image) !== reference) continue;
      const id = digestFromImageID(s.imageID);
      if (id.kind === 'manifest' && id.name === name) found.push(id.digest);
    }
  }
  return found;
}

function canonicalOf(reference: string): string | undefined {
  const p = parseImageReference(reference);
  return p.ok ? canonicalName(p.ref) : undefined;
}

/** The `status.images` entries of each node, for the rule of `common/node-images.ts`. */
function* entriesOf(nodes: Iterable<NodeImages>): Iterable<ImageEntries> {
  for (const node of nodes) yield node.images;
}

/** Digests that `Node.status.images` pairs with `reference`: one vote per node that answers (`common/node-images.ts`). */
export function digestsFromNodes(reference: string, nodes: Iterable<NodeImages>): string[] {
  return nodeDigestVotes(entriesOf(nodes), reference);
}

/**
 * Runs the local chain for a digest need from `planAction`. A known digest passes through; otherwise other pods'
 * imageIDs, then Node.status.images (the rule of `common/node-images.ts`: most nodes win, ties to the smallest
 * digest), else what is left for the workflow.
 */
export function resolveLocally(need: DigestNeed, ctx: LocalResolveContext): LocalResolution {
  if (need.known) return { digest: need.digest, via: need.source };
  const fromPods = mostCommon(digestsFromPods(need.reference, ctx.pods()));
  if (fromPods) return { digest: fromPods, via: 'other-pod-image-id' };
  const fromNodes = digestForTagFromNodes(entriesOf(ctx.nodes()), need.reference);
  if (fromNodes) return { digest: fromNodes, via: 'node-status-images' };
  return {
    reference: need.reference,
    steps: need.steps.filter((s) => s === 'agents' || s === 'registry'),
    ...(need.configDigest ? { configDigest: need.configDigest } : {}),
  };
}

/** What the reconciler asks the `resolveImage` workflow. */
export interface RemoteResolveRequest {
  /** Fully qualified tagged reference. */
  reference: string;
  /** Whether the registry v2 API may be asked (`--registry-resolve`). */
  registryResolve: boolean;
}

/** The answer: a digest and who knew it, or null with what was tried. */
export type RemoteResolveResult =
  { digest: string; via: 'agents' | 'registry' } | { digest: null; tried: string[]; error?: string };

/** The agents/registry part of the chain, run by a workflow. */
export interface RemoteResolver {
  /** Resolves `req.reference`; rejects only when the workflow could not be started or awaited. */
  resolve(req: RemoteResolveRequest): Promise<RemoteResolveResult>;
}
