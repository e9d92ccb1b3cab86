/**
 * Running pods as the last-copy scan needs them (the `RunningPod` of activities/deps.ts): node, and each init and
 * regular container's spec image with the `imageID` kubelet reports for it. Listed in pages so a big cluster is
 * never one huge response.
 */
import type { ConfigurationOptions, CoreV1Api, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

/** A running pod's container. */
export interface RunningContainerInfo {
  name: string;
  image: string;
  imageID?: string;
}

/** A pod in phase Running. */
export interface RunningPodInfo {
  namespace: string;
  name: string;
  uid?: string;
  node: string;
  containers: RunningContainerInfo[];
}

/** Pods per list call. */
const PAGE = 500;

function containersOf(p: V1Pod): RunningContainerInfo[] {
  const status = p.status ?? {};
  const statuses = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];
  const ids = new Map(statuses.map((s: V1ContainerStatus) => [s.name, s.imageID]));
  const specs = [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])];
  return specs.flatMap((c) => {
    if (!c.image) return [];
    const imageID = ids.get(c.name);
    return [{ name: c.name, image: c.image, ...(imageID ? { imageID } : {}) }];
  });
}

/** The scan's view of one pod; ephemeral containers are left out (no restarted pod needs their images). */
export function runningPodOf(p: V1Pod): RunningPodInfo {
  const m = p.metadata ?? {};
  return {
    namespace: m.namespace ?? '',
    name: m.name ?? '',
    uid: m.uid,
    node: p.spec?.nodeName ?? '',
    containers: containersOf(p),
  };
}

/** Lists the pods in phase Running, in `namespace` or in all namespaces; `options` carry the abort signal. */
export async function listRunningPods(
  core: CoreV1Api,
  namespace: string | undefined,
  options?: ConfigurationOptions,
): Promise<RunningPodInfo[]> {
  const out: RunningPodInfo[] = [];
  let _continue: string | undefined;
  do {
    const req = { fieldSelector: 'status.phase=Running', limit: PAGE, _continue };
    const page = namespace
      ? await core.listNamespacedPod({ ...req, namespace }, options)
      : await core.listPodForAllNamespaces(req, options);
    out.push(...page.items.filter((p) => p.spec?.nodeName).map(runningPodOf));
    _continue = page.metadata?._continue || undefined;
  } while (_continue);
  return out;
}
