import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ContainerImage,
  type V1Node,
} from '@kubernetes/client-node';

/** Options of every status patch: a JSON merge patch (client-node 1.4 would send JSON Patch otherwise). */
export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** kubelet reports at most this many images in `Node.status.images` (`--node-status-max-images`). */
const MAX_IMAGES = 50;
/** kubelet keeps at most this many names per image (`maxNamesPerImageInNodeStatus`). */
const MAX_NAMES = 5;

/** An image as listed in `Node.status.images`. */
export interface NodeImage {
  /** `repo@sha256:…` and `repo:tag` names, digests first as kubelet lists them. */
  names: string[];
  sizeBytes: number;
}

/** One cached image described by its parts; see {@link kubeletImage}. */
export interface ImageParts {
  /** Fully qualified repository, e.g. `docker.io/library/nginx`. */
  repo: string;
  /** `sha256:<hex>` of the manifest (or index) the node holds. */
  digest: string;
  tags?: string[];
  sizeBytes: number;
}

/** Builds the `status.images` entry kubelet would report: RepoDigests first, then RepoTags (CRI ListImages). */
export function kubeletImage(parts: ImageParts): NodeImage {
  return {
    names: [`${parts.repo}@${parts.digest}`, ...(parts.tags ?? []).map((t) => `${parts.repo}:${t}`)],
    sizeBytes: parts.sizeBytes,
  };
}

/** Orders and trims images like kubelet's node status setter: largest first, capped counts. */
function asKubeletReports(images: NodeImage[]): V1ContainerImage[] {
  return [...images]
    .sort((a, b) => b.sizeBytes - a.sizeBytes)
    .slice(0, MAX_IMAGES)
    .map((i) => ({ names: i.names.slice(0, MAX_NAMES), sizeBytes: i.sizeBytes }));
}

/** What {@link registerNode} creates. */
export interface NodeSpec {
  name: string;
  images: NodeImage[];
  /** Extra labels beside kubernetes.io/hostname, os and arch. */
  labels?: Record<string, string>;
  /** Address reported as InternalIP. @default "127.0.0.1" */
  internalIP?: string;
}

function readyStatus(spec: NodeSpec): object {
  const now = new Date();
  return {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'KubeletReady',
        message: 'kubelet is posting ready status',
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      },
    ],
    addresses: [
      { type: 'InternalIP', address: spec.internalIP ?? '127.0.0.1' },
      { type: 'Hostname', address: spec.name },
    ],
    capacity: { cpu: '2', memory: '8Gi', pods: '110' },
    allocatable: { cpu: '2', memory: '8Gi', pods: '110' },
    nodeInfo: {
      architecture: 'amd64',
      operatingSystem: 'linux',
      osImage: 'tote sandbox',
      kernelVersion: '',
      containerRuntimeVersion: 'containerd://1.6.20',
      kubeletVersion: 'v1.34.4',
      kubeProxyVersion: '',
      machineID: '',
      systemUUID: '',
      bootID: '',
    },
    images: asKubeletReports(spec.images),
  };
}

/**
 * Creates a Node object and patches its status the way a healthy kubelet would: Ready=True and `status.images`
 * (largest first, at most 50 images and 5 names each). No kubelet runs, so nothing will ever change it back.
 */
export async function registerNode(kc: KubeConfig, spec: NodeSpec): Promise<V1Node> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNode({
    body: {
      metadata: {
        name: spec.name,
        labels: {
          'kubernetes.io/hostname': spec.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          ...spec.labels,
        },
      },
    },
  });
  return core.patchNodeStatus({ name: spec.name, body: { status: readyStatus(spec) } }, MERGE_PATCH);
}

/** Replaces a node's `status.images` (a merge patch replaces the whole list, as kubelet's update does). */
export async function updateNodeImages(
  kc: KubeConfig,
  opts: { name: string; images: NodeImage[] },
): Promise<V1Node> {
  return kc
    .makeApiClient(CoreV1Api)
    .patchNodeStatus(
      { name: opts.name, body: { status: { images: asKubeletReports(opts.images) } } },
      MERGE_PATCH,
    );
}
