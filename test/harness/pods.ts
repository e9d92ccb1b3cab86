import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Container,
  type V1Deployment,
  type V1Namespace,
  type V1OwnerReference,
  type V1Pod,
  type V1ReplicaSet,
} from '@kubernetes/client-node';
import { MERGE_PATCH } from './kube-nodes.js';
import { imageFailureStatus, type ImageFailure } from './kube-pod-status.js';

export { kubeletImage, registerNode, updateNodeImages, type NodeImage, type NodeSpec } from './kube-nodes.js';
export { defaultMessage, type ImageFailureReason } from './kube-pod-status.js';

/** Creates a namespace, optionally annotated (e.g. `tote.dev/allow: "true"`). */
export async function createNamespace(
  kc: KubeConfig,
  name: string,
  annotations?: Record<string, string>,
): Promise<V1Namespace> {
  return kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name, annotations } } });
}

/** What {@link createPod} creates. */
export interface PodSpec {
  namespace: string;
  name: string;
  /** Set directly: no scheduler runs in the sandbox. */
  nodeName: string;
  image: string;
  /** Name of the one regular container. @default "app" */
  container?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  ownerReferences?: V1OwnerReference[];
  initContainer?: { name: string; image: string };
  /**
   * No kubelet confirms deletions, so a bound pod with a grace period would stay Terminating forever; 0 makes
   * `delete` immediate, which is what a controller that deletes pods to restart them needs here. @default 0
   */
  terminationGracePeriodSeconds?: number;
}

function podBody(spec: PodSpec): V1Pod {
  const containers: V1Container[] = [{ name: spec.container ?? 'app', image: spec.image }];
  return {
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      annotations: spec.annotations,
      labels: spec.labels,
      ownerReferences: spec.ownerReferences,
    },
    spec: {
      nodeName: spec.nodeName,
      containers,
      initContainers: spec.initContainer ? [spec.initContainer] : undefined,
      terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 0,
    },
  };
}

/** Creates a pod already bound to `nodeName`. Its status stays empty until a helper patches it. */
export async function createPod(kc: KubeConfig, spec: PodSpec): Promise<V1Pod> {
  return kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace: spec.namespace, body: podBody(spec) });
}

/**
 * Patches the pod's status subresource the way kubelet reports an image problem (see `imageFailureStatus`):
 * Pending, the container waiting with `reason` and `message`, `imageID` "" for failed pulls.
 */
export async function setPodImageFailure(
  kc: KubeConfig,
  opts: { namespace: string; name: string } & ImageFailure,
): Promise<V1Pod> {
  const core = kc.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ name: opts.name, namespace: opts.namespace });
  return core.patchNamespacedPodStatus(
    { name: opts.name, namespace: opts.namespace, body: { status: imageFailureStatus(pod, opts) } },
    MERGE_PATCH,
  );
}

/** What {@link createDeployment} creates. */
export interface DeploymentSpec {
  namespace: string;
  name: string;
  nodeName: string;
  image: string;
  /** Annotations of the Deployment itself (an owner-chain opt-in). */
  annotations?: Record<string, string>;
  /** Annotations of the pod template and so of the pod. */
  podAnnotations?: Record<string, string>;
  initContainer?: { name: string; image: string };
}

/** The chain {@link createDeployment} made. */
export interface DeploymentChain {
  deployment: V1Deployment;
  replicaSet: V1ReplicaSet;
  pod: V1Pod;
}

function controllerRef(kind: string, obj: { metadata?: { name?: string; uid?: string } }): V1OwnerReference {
  return {
    apiVersion: 'apps/v1',
    kind,
    name: obj.metadata?.name ?? '',
    uid: obj.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** A 5-character suffix of the alphabet Kubernetes uses for generated names. */
function nameSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
}

/**
 * Creates a Deployment, its ReplicaSet and one Pod bound to `nodeName`, linked by controller ownerReferences as the
 * deployment and replicaset controllers would (neither runs in the sandbox, so nothing else creates or deletes pods).
 */
export async function createDeployment(kc: KubeConfig, spec: DeploymentSpec): Promise<DeploymentChain> {
  const apps = kc.makeApiClient(AppsV1Api);
  const { namespace } = spec;
  const hash = nameSuffix();
  const labels = { app: spec.name };
  const template = podBody({ ...spec, name: '', annotations: spec.podAnnotations });
  const podTemplate = { metadata: { labels, annotations: spec.podAnnotations }, spec: template.spec };
  const deployment = await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: spec.name, annotations: spec.annotations, labels },
      spec: { replicas: 1, selector: { matchLabels: labels }, template: podTemplate },
    },
  });
  const rsLabels = { ...labels, 'pod-template-hash': hash };
  const replicaSet = await apps.createNamespacedReplicaSet({
    namespace,
    body: {
      metadata: {
        name: `${spec.name}-${hash}`,
        labels: rsLabels,
        ownerReferences: [controllerRef('Deployment', deployment)],
      },
      spec: {
        replicas: 1,
        selector: { matchLabels: rsLabels },
        template: { ...podTemplate, metadata: { ...podTemplate.metadata, labels: rsLabels } },
      },
    },
  });
  const pod = await createPod(kc, {
    ...spec,
    name: `${spec.name}-${hash}-${nameSuffix()}`,
    annotations: spec.podAnnotations,
    labels: rsLabels,
    ownerReferences: [controllerRef('ReplicaSet', replicaSet)],
  });
  return { deployment, replicaSet, pod };
}
