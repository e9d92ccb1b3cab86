/**
 * What `tote salvage <namespace>/<pod>` acts on: the pod read through the kube API, the namespace's consent, the
 * failing containers (controller/detect.ts) and their digests (the reference, the pod's imageID, other pods'
 * imageIDs, `Node.status.images`; controller/resolve.ts). The decisions are pure functions; {@link readPodFacts}
 * is the only I/O.
 */
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { isDigest } from '../common/digest.js';
import { ANNOTATIONS, DENIED_NAMESPACES } from '../common/names.js';
import { detectFailures, planAction, type DetectedFailure, type DigestNeed } from '../controller/detect.js';
import { resolveLocally, slimNode, type LocalVia, type NodeImages } from '../controller/resolve.js';
import type { Pod } from '../controller/types.js';
import type { SalvageInput } from '../workflows/index.js';
import { firstLine } from './connect.js';
import { UserError } from './errors.js';

/** A `<namespace>/<pod>` argument. */
export interface PodArg {
  namespace: string;
  name: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Parses `<namespace>/<pod>`; a UserError with an example otherwise. */
export function parsePodArg(arg: string): PodArg {
  const [namespace = '', name = '', ...rest] = arg.trim().split('/');
  if (rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) {
    throw new UserError(`expected <namespace>/<pod>, e.g. shop/web-7c9f8-x2x4q; got "${arg}"`);
  }
  return { namespace, name };
}

/** Refuses the namespaces tote never acts in, whatever their annotations say. */
export function refuseDeniedNamespace(namespace: string): void {
  if (DENIED_NAMESPACES.includes(namespace)) {
    throw new UserError(
      `tote never acts in ${namespace} (denied: ${DENIED_NAMESPACES.join(', ')}): repair system pods by hand`,
    );
  }
}

/**
 * The namespace must still allow tote (`tote.dev/allow: "true"`): the command replaces the workload's
 * auto-salvage opt-in, never the namespace owner's consent.
 */
export function refuseNamespaceWithoutConsent(namespace: string, annotations: Record<string, string>): void {
  const v = annotations[ANNOTATIONS.allow];
  if (v === 'true') return;
  throw new UserError(
    `namespace ${namespace} does not allow tote (${ANNOTATIONS.allow} is ${v === undefined ? 'missing' : `"${v}"`}); ` +
      `if its owners agree: kubectl annotate namespace ${namespace} ${ANNOTATIONS.allow}=true`,
  );
}

/** Everything the decisions read, fetched once. */
export interface PodFacts {
  pod: Pod;
  /** Pods of the same namespace (their imageIDs may resolve a tag); only read when a tag needs it. */
  neighbours: () => Promise<Pod[]>;
  /** Nodes with `status.images`; only read when a tag needs it. */
  nodes: () => Promise<NodeImages[]>;
}

/** One salvage to run. */
export interface SalvageTarget {
  input: SalvageInput;
  /** Where the digest came from. */
  via: LocalVia | 'flag' | 'agents' | 'registry';
}

/** A failing container tote salvage does not act on, and why. */
export interface SkippedContainer {
  container: string;
  reason: string;
  why: string;
}

/** A tag the cluster could not resolve; the `resolveImage` workflow (agents, registry) is the next step. */
export interface UnresolvedTag {
  failure: DetectedFailure;
  reference: string;
  /** The salvage input, but for the digest. */
  input: Omit<SalvageInput, 'digest'>;
}

/** What {@link chooseTargets} decided. */
export interface TargetChoice {
  targets: SalvageTarget[];
  unresolved: UnresolvedTag[];
  skipped: SkippedContainer[];
}

/** Options of {@link chooseTargets}. */
export interface ChooseOptions {
  /** Only this container. */
  container?: string;
  /** The digest to salvage, given by the operator (one image only). */
  digest?: string;
  /** Who asks (SalvageInput.requestedBy). */
  requestedBy: string;
}

function failingContainers(facts: PodFacts, arg: PodArg, container?: string): DetectedFailure[] {
  const pod = facts.pod;
  if (!pod.spec?.nodeName) {
    throw new UserError(
      `pod ${arg.namespace}/${arg.name} is not scheduled on a node yet: there is no node to salvage onto`,
    );
  }
  if (pod.metadata?.deletionTimestamp)
    throw new UserError(`pod ${arg.namespace}/${arg.name} is being deleted`);
  const all = detectFailures(pod);
  const chosen = container ? all.filter((f) => f.container === container) : all;
  if (chosen.length > 0) return chosen;
  if (container && all.length > 0) {
    throw new UserError(
      `container "${container}" is not waiting on its image; failing: ${all.map((f) => f.container).join(', ')}`,
    );
  }
  throw new UserError(
    `pod ${arg.namespace}/${arg.name} has no container waiting on its image (ErrImagePull, ImagePullBackOff, ` +
      `CreateContainerError)${container ? ` named "${container}"` : ''}: nothing to salvage`,
  );
}

function skip(f: DetectedFailure, why: string): SkippedContainer {
  return { container: f.container, reason: f.reason, why };
}

function inputFor(f: DetectedFailure, facts: PodFacts, digest: string, requestedBy: string): SalvageInput {
  const m = facts.pod.metadata;
  return {
    digest,
    imageRef: f.image,
    node: f.node,
    pod: { namespace: m?.namespace ?? '', name: m?.name ?? '', ...(m?.uid ? { uid: m.uid } : {}) },
    container: f.container,
    reason: f.reason,
    requestedBy,
  };
}

/**
 * Picks the containers to salvage and their digests. A tag no local source resolves is returned as unresolved;
 * CreateContainerError and unparseable references are skipped with the reason. One salvage per digest.
 */
export async function chooseTargets(
  facts: PodFacts,
  arg: PodArg,
  opts: ChooseOptions,
): Promise<TargetChoice> {
  const failures = failingContainers(facts, arg, opts.container);
  if (opts.digest !== undefined && !isDigest(opts.digest)) {
    throw new UserError(
      `--digest: invalid value "${opts.digest}"; expected sha256: and 64 lowercase hex digits`,
    );
  }
  if (opts.digest && new Set(failures.map((f) => f.image)).size > 1) {
    throw new UserError(
      '--digest names one image, but several containers fail with different images: add --container',
    );
  }
  const out: TargetChoice = { targets: [], unresolved: [], skipped: [] };
  for (const f of failures) {
    const plan = planAction(f);
    if (plan.action === 'none') {
      out.skipped.push(
        skip(
          f,
          plan.why === 'invalid-reference' ? `invalid image reference "${f.image}"` : 'not an image problem',
        ),
      );
      continue;
    }
    if (plan.action === 'cleanup') {
      out.skipped.push(
        skip(f, 'the image on the node is corrupt: the controller removes it (cleanupCorruptImage) first'),
      );
      continue;
    }
    const found = await resolveDigest(facts, plan.digest, opts.digest);
    if (found.digest === undefined) {
      const { digest: _none, ...input } = inputFor(f, facts, '', opts.requestedBy);
      out.unresolved.push({ failure: f, reference: found.reference, input });
    } else if (!out.targets.some((t) => t.input.digest === found.digest && t.input.node === f.node)) {
      out.targets.push({ input: inputFor(f, facts, found.digest, opts.requestedBy), via: found.via });
    }
  }
  return out;
}

type Resolution = { digest: string; via: SalvageTarget['via'] } | { digest?: undefined; reference: string };

/** The operator's digest, else the reference's or the pod's imageID, else other pods' and the nodes' reports. */
async function resolveDigest(
  facts: PodFacts,
  need: DigestNeed,
  flag: string | undefined,
): Promise<Resolution> {
  if (flag) return { digest: flag, via: 'flag' };
  if (need.known) return { digest: need.digest, via: need.source };
  const [pods, nodes] = await Promise.all([facts.neighbours(), facts.nodes()]);
  return resolveLocally(need, { pods: () => pods, nodes: () => nodes });
}

/** Runs `fn` once, on the first call; later calls share its promise. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/** A kube API failure, explained: what was refused or unreachable, and what to check. */
export function explainKubeError(err: unknown, what: string, kc: KubeConfig): UserError {
  if (err instanceof ApiException) {
    if (err.code === 401 || err.code === 403) {
      return new UserError(
        `the Kubernetes API refused to ${what} (HTTP ${err.code}); the kubeconfig's user needs get on pods and namespaces and list on pods and nodes`,
      );
    }
    return new UserError(`the Kubernetes API failed to ${what} (HTTP ${err.code}): ${firstLine(err)}`);
  }
  const server = kc.getCurrentCluster()?.server ?? '?';
  return new UserError(
    `cannot reach the Kubernetes API at ${server} to ${what} (${firstLine(err)}); check --kubeconfig and --context`,
  );
}

async function kubeCall<T>(kc: KubeConfig, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw explainKubeError(err, what, kc);
  }
}

function notFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

/**
 * Reads the pod and its namespace (refusing a namespace without consent) and prepares the lazy reads a tag may
 * need. A missing pod is a UserError that says how to find the right name.
 */
export async function readPodFacts(kc: KubeConfig, arg: PodArg): Promise<PodFacts> {
  const core = kc.makeApiClient(CoreV1Api);
  const pod = await kubeCall(kc, `get pod ${arg.namespace}/${arg.name}`, () =>
    core.readNamespacedPod(arg).catch((err: unknown) => (notFound(err) ? null : Promise.reject(err))),
  );
  if (!pod) {
    throw new UserError(
      `pod ${arg.namespace}/${arg.name} not found; list the pods with: kubectl get pods -n ${arg.namespace}`,
    );
  }
  const ns = await kubeCall(kc, `get namespace ${arg.namespace}`, () =>
    core.readNamespace({ name: arg.namespace }),
  );
  refuseNamespaceWithoutConsent(arg.namespace, ns.metadata?.annotations ?? {});
  return {
    pod: pod as Pod,
    neighbours: once(() =>
      kubeCall(kc, `list pods in ${arg.namespace}`, async () => {
        const list = await core.listNamespacedPod({ namespace: arg.namespace });
        return list.items as Pod[];
      }),
    ),
    nodes: once(() =>
      kubeCall(kc, 'list nodes', async () => (await core.listNode()).items.map((n) => slimNode(n))),
    ),
  };
}
