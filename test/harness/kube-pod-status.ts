import type { V1Container, V1ContainerStatus, V1Pod, V1PodCondition } from '@kubernetes/client-node';

/** Waiting reasons kubelet reports when an image cannot be pulled or a container cannot be created from it. */
export type ImageFailureReason = 'ErrImagePull' | 'ImagePullBackOff' | 'CreateContainerError';

/** Which container fails and how. */
export interface ImageFailure {
  container: string;
  reason: ImageFailureReason;
  /** @default a message shaped like kubelet 1.34's with containerd 1.6 */
  message?: string;
  /** @default "" (kubelet's value for a container that was never created) */
  imageID?: string;
}

/** Where a container sits in the pod spec; decides which status list carries it. */
type Kind = 'init' | 'regular' | 'ephemeral';

/** kubelet-like default message for `reason` about `image`. */
export function defaultMessage(reason: ImageFailureReason, image: string): string {
  const pull =
    `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": ` +
    `failed to resolve reference "${image}": ${image}: not found`;
  if (reason === 'ErrImagePull') return pull;
  if (reason === 'ImagePullBackOff') return `Back-off pulling image "${image}": ErrImagePull: ${pull}`;
  return (
    'failed to create containerd container: error unpacking image: failed to resolve rootfs: ' +
    'content digest sha256:0000000000000000000000000000000000000000000000000000000000000000: not found'
  );
}

function waiting(
  c: V1Container,
  reason: string,
  extra: { message?: string; imageID?: string },
): V1ContainerStatus {
  return {
    name: c.name,
    image: c.image ?? '',
    imageID: extra.imageID ?? '',
    ready: false,
    restartCount: 0,
    started: false,
    state: { waiting: extra.message === undefined ? { reason } : { reason, message: extra.message } },
  };
}

function completed(c: V1Container): V1ContainerStatus {
  const at = new Date();
  return {
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: true,
    restartCount: 0,
    started: false,
    state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at } },
  };
}

function locate(pod: V1Pod, name: string): { kind: Kind; container: V1Container } {
  const lists: [Kind, V1Container[] | undefined][] = [
    ['init', pod.spec?.initContainers],
    ['regular', pod.spec?.containers],
    ['ephemeral', pod.spec?.ephemeralContainers as V1Container[] | undefined],
  ];
  for (const [kind, list] of lists) {
    const container = list?.find((c) => c.name === name);
    if (container) return { kind, container };
  }
  throw new Error(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} has no container "${name}"`);
}

function conditions(pod: V1Pod, initFailing: boolean): V1PodCondition[] {
  const now = new Date();
  const names = (pod.spec?.containers ?? []).map((c) => c.name).join(' ');
  const notReady = {
    status: 'False',
    reason: 'ContainersNotReady',
    message: `containers with unready status: [${names}]`,
  };
  const failingInits = (pod.spec?.initContainers ?? []).map((c) => c.name).join(' ');
  const initialized = initFailing
    ? {
        status: 'False',
        reason: 'ContainersNotInitialized',
        message: `containers with incomplete status: [${failingInits}]`,
      }
    : { status: 'True' };
  return [
    { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: now },
    { type: 'Initialized', ...initialized, lastTransitionTime: now },
    { type: 'Ready', ...notReady, lastTransitionTime: now },
    { type: 'ContainersReady', ...notReady, lastTransitionTime: now },
    { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
  ];
}

/**
 * The `status` kubelet reports for a pod whose container `failure.container` cannot start because of its image:
 * phase Pending, the failing container waiting with the reason and message, siblings waiting behind it
 * (ContainerCreating, or PodInitializing while an init container fails), nothing ready, no restarts.
 */
export function imageFailureStatus(pod: V1Pod, failure: ImageFailure): object {
  const { kind, container } = locate(pod, failure.container);
  const message = failure.message ?? defaultMessage(failure.reason, container.image ?? '');
  const failed = waiting(container, failure.reason, { message, imageID: failure.imageID });
  const others = (list: V1Container[] | undefined, reason: string): V1ContainerStatus[] =>
    (list ?? []).map((c) => (c.name === container.name ? failed : waiting(c, reason, {})));
  const behind = kind === 'init' ? 'PodInitializing' : 'ContainerCreating';
  const status: Record<string, unknown> = {
    phase: 'Pending',
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    startTime: new Date(),
    conditions: conditions(pod, kind === 'init'),
    containerStatuses: others(pod.spec?.containers, behind),
  };
  if (pod.spec?.initContainers?.length) {
    // A regular container only gets to its image once every init container has completed.
    status.initContainerStatuses =
      kind === 'init'
        ? others(pod.spec.initContainers, 'PodInitializing')
        : pod.spec.initContainers.map(completed);
  }
  if (kind === 'ephemeral') status.ephemeralContainerStatuses = [failed];
  return status;
}
