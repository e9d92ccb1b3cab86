/**
 * The first step of the last-copy scan: which images running pods use, grouped by `name@digest` (or by the
 * reference, when neither a pinned digest nor a container status `imageID` says the digest).
 */
import { cancellationSignal } from '@temporalio/activity';
import { ANNOTATIONS, DENIED_NAMESPACES } from '../common/names.js';
import {
  canonicalName,
  digestFromImageID,
  formatReference,
  parseImageReference,
} from '../common/image-ref.js';
import { MAX_PODS_LISTED, type ImageInUse } from '../common/last-copy.js';
import type { ActivityDeps, RunningContainer, RunningPod } from './deps.js';
import { mapFailures } from './failures.js';

/** An image group while pods are added to it. */
type Group = Omit<ImageInUse, 'allowed'> & { namespaces: Set<string> };

function keyOf(c: RunningContainer): Omit<Group, 'pods' | 'podCount' | 'namespaces'> | undefined {
  const parsed = parseImageReference(c.image);
  // A reference kubelet could not have pulled either; nothing a registry or backup could do for it.
  if (!parsed.ok) return undefined;
  const { ref } = parsed;
  const fromStatus = digestFromImageID(c.imageID);
  const digest = ref.digest ?? (fromStatus.kind === 'manifest' ? fromStatus.digest : undefined);
  const name = canonicalName(ref);
  const key = digest ? `${name}@${digest}` : formatReference({ ...ref, digest: undefined });
  return { key, image: c.image, name, ...(ref.tag ? { tag: ref.tag } : {}), ...(digest ? { digest } : {}) };
}

function addPod(g: Group, pod: RunningPod): void {
  const listed = g.pods.some((p) => p.namespace === pod.namespace && p.name === pod.name);
  if (listed) return;
  g.podCount++;
  g.namespaces.add(pod.namespace);
  if (g.pods.length < MAX_PODS_LISTED) {
    g.pods.push({ namespace: pod.namespace, name: pod.name, uid: pod.uid, node: pod.node });
  }
}

/** Groups the containers of `pods` by image; pods in name order, so the first pod is stable across runs. */
export function groupImages(pods: RunningPod[]): (Omit<ImageInUse, 'allowed'> & { namespaces: string[] })[] {
  const groups = new Map<string, Group>();
  const sorted = [...pods].sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
  );
  for (const pod of sorted) {
    for (const c of pod.containers) {
      const k = keyOf(c);
      if (!k) continue;
      const g = groups.get(k.key) ?? { ...k, pods: [], podCount: 0, namespaces: new Set<string>() };
      groups.set(k.key, g);
      addPod(g, pod);
    }
  }
  return [...groups.values()]
    .map((g) => ({ ...g, namespaces: [...g.namespaces].sort() }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

async function allowedNamespaces(deps: ActivityDeps, names: string[]): Promise<Set<string>> {
  const allowed = new Set<string>();
  for (const name of names) {
    if (DENIED_NAMESPACES.includes(name)) continue;
    const ns = await mapFailures(`read namespace ${name}`, () =>
      deps.kube.getNamespace(name, { signal: cancellationSignal() }),
    );
    if (ns?.annotations[ANNOTATIONS.allow] === 'true') allowed.add(name);
  }
  return allowed;
}

/** Lists running pods and groups their images; says whether a backup registry is configured. */
export async function listImagesInUse(
  deps: ActivityDeps,
  input: { namespace?: string },
): Promise<{ images: ImageInUse[]; backupRegistry: string | null }> {
  const list = deps.kube.listRunningPods;
  if (!list) throw new Error('this worker cannot list pods (KubePort.listRunningPods is missing)');
  const pods = await mapFailures('list running pods', () =>
    list.call(deps.kube, input.namespace, { signal: cancellationSignal() }),
  );
  const groups = groupImages(pods);
  const allowed = await allowedNamespaces(deps, [...new Set(groups.flatMap((g) => g.namespaces))].sort());
  const images = groups.map(({ namespaces, ...g }) => ({
    ...g,
    allowed: namespaces.some((n) => allowed.has(n)),
  }));
  return { images, backupRegistry: deps.config.backup?.registry ?? null };
}
