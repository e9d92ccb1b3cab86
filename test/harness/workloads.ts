/**
 * Workloads on a real sandbox cluster (startSandbox({kubelets: true})): the objects a user would apply, made into
 * pods by the real controllers, scheduled by the real scheduler and run (or failed) by the real kubelets.
 */
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Container,
  type V1ContainerStatus,
  type V1Pod,
  type V1PodSpec,
} from '@kubernetes/client-node';
import { waitFor } from './ports.js';

/** The pod template every workload helper builds on. */
export interface PodTemplate {
  image: string;
  /** Pin to one node through the scheduler (`kubernetes.io/hostname`), as a user's nodeSelector would. */
  node?: string;
  /** Name of the one regular container. @default "app" */
  container?: string;
  /** Pod annotations (e.g. `tote.dev/auto-salvage`). */
  podAnnotations?: Record<string, string>;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  initContainer?: { name: string; image: string; command?: string[] };
  /** Seconds kubelet waits for SIGTERM to work; the fixture images exit at once. @default 5 */
  terminationGracePeriodSeconds?: number;
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
}

/** A pod spec a user would write for {@link PodTemplate}. */
export function podSpec(t: PodTemplate): V1PodSpec {
  const container: V1Container = {
    name: t.container ?? 'app',
    image: t.image,
    ...(t.imagePullPolicy ? { imagePullPolicy: t.imagePullPolicy } : {}),
  };
  return {
    containers: [container],
    initContainers: t.initContainer
      ? [
          {
            name: t.initContainer.name,
            image: t.initContainer.image,
            ...(t.initContainer.command ? { command: t.initContainer.command } : {}),
          },
        ]
      : undefined,
    nodeSelector: t.node ? { 'kubernetes.io/hostname': t.node } : undefined,
    terminationGracePeriodSeconds: t.terminationGracePeriodSeconds ?? 5,
    restartPolicy: t.restartPolicy,
    // Nothing in the fixture images talks to the apiserver.
    automountServiceAccountToken: false,
  };
}

/** What {@link applyDeployment} creates. */
export interface WorkloadSpec extends PodTemplate {
  namespace: string;
  name: string;
  /** Annotations of the workload object itself (an owner-chain opt-in). */
  annotations?: Record<string, string>;
  /** Replicas of a Deployment or StatefulSet. @default 1 */
  replicas?: number;
}

/** The workload object's metadata and its pod template (labels `app=<name>`, the pod annotations). */
function parts(w: WorkloadSpec, restartPolicy?: PodTemplate['restartPolicy']) {
  const labels = { app: w.name };
  return {
    labels,
    metadata: { name: w.name, annotations: w.annotations, labels },
    template: {
      metadata: { labels, annotations: w.podAnnotations },
      spec: podSpec(restartPolicy ? { ...w, restartPolicy: w.restartPolicy ?? restartPolicy } : w),
    },
  };
}

/** Creates a Deployment (one replica unless told); the deployment and replicaset controllers make its pods. */
export async function applyDeployment(kc: KubeConfig, w: WorkloadSpec): Promise<void> {
  const { labels, metadata, template } = parts(w);
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: w.namespace,
    body: { metadata, spec: { replicas: w.replicas ?? 1, selector: { matchLabels: labels }, template } },
  });
}

/** Creates a StatefulSet, one replica unless told (no volumes, no Service: the controller needs none). */
export async function applyStatefulSet(kc: KubeConfig, w: WorkloadSpec): Promise<void> {
  const { labels, metadata, template } = parts(w);
  await kc.makeApiClient(AppsV1Api).createNamespacedStatefulSet({
    namespace: w.namespace,
    body: {
      metadata,
      spec: { replicas: w.replicas ?? 1, serviceName: w.name, selector: { matchLabels: labels }, template },
    },
  });
}

/** Creates a Job whose one pod runs to completion (the template's script must exit). */
export async function applyJob(kc: KubeConfig, w: WorkloadSpec & { backoffLimit?: number }): Promise<void> {
  const { metadata, template } = parts(w, 'Never');
  await kc.makeApiClient(BatchV1Api).createNamespacedJob({
    namespace: w.namespace,
    body: { metadata, spec: { backoffLimit: w.backoffLimit ?? 6, template } },
  });
}

/** Creates a CronJob running `schedule` (cron syntax); each run's Job makes one pod that runs to completion. */
export async function applyCronJob(kc: KubeConfig, w: WorkloadSpec & { schedule: string }): Promise<void> {
  const { metadata, template } = parts(w, 'Never');
  await kc.makeApiClient(BatchV1Api).createNamespacedCronJob({
    namespace: w.namespace,
    body: {
      metadata,
      spec: {
        schedule: w.schedule,
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 5,
        jobTemplate: { spec: { backoffLimit: 6, template } },
      },
    },
  });
}

/** Creates a bare pod (no owner): only kubelet's own back-off retries it. */
export async function applyPod(kc: KubeConfig, w: WorkloadSpec): Promise<void> {
  await kc.makeApiClient(CoreV1Api).createNamespacedPod({
    namespace: w.namespace,
    body: {
      metadata: {
        name: w.name,
        annotations: { ...w.annotations, ...w.podAnnotations },
        labels: { app: w.name },
      },
      spec: podSpec(w),
    },
  });
}

/** Pods labelled `app=<app>` in `namespace`, oldest first, without those being deleted. */
export async function podsOf(kc: KubeConfig, namespace: string, app: string): Promise<V1Pod[]> {
  const list = await kc
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace, labelSelector: `app=${app}` });
  return list.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .sort((a, b) =>
      String(a.metadata?.creationTimestamp).localeCompare(String(b.metadata?.creationTimestamp)),
    );
}

/** Every container status of a pod: init, regular and ephemeral. */
export function allStatuses(pod: V1Pod): V1ContainerStatus[] {
  return [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
}

/** What kubelet wrote when a container of the pod could not start. */
export interface KubeletFailure {
  pod: V1Pod;
  container: string;
  reason: string;
  message: string;
  /** When the test first saw it. */
  seenAt: number;
}

/** The reason kubelet's `Failed` event stands for (its note is `Error: <reason or message>`). */
function failedEventReason(note: string): { reason: string; message: string } | undefined {
  if (!note.startsWith('Error: ')) return undefined;
  const rest = note.slice('Error: '.length);
  if (rest === 'ErrImagePull' || rest === 'ImagePullBackOff') return { reason: rest, message: '' };
  return { reason: 'CreateContainerError', message: rest };
}

/**
 * kubelet's own record of a failure of a pod that is gone (or going), from its events: they outlive the pod, so a
 * failure that tote fixed (and whose pod it deleted) between two polls is still seen. A live pod is judged by its
 * status only: kubelet writes the event before the status, and what reads the pod (tote) needs the status. The
 * message of a pull failure is that of the `Failed to pull image` event of the same container.
 */
async function failureFromEvents(
  kc: KubeConfig,
  namespace: string,
  app: string,
  reasons: string[],
  live: Set<string>,
): Promise<KubeletFailure | false> {
  const events = (await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace })).items.filter(
    (e) =>
      e.source?.component === 'kubelet' &&
      e.involvedObject.kind === 'Pod' &&
      (e.involvedObject.name === app || e.involvedObject.name?.startsWith(`${app}-`)),
  );
  for (const e of events) {
    if (live.has(e.involvedObject.uid ?? '')) continue;
    const failed = e.reason === 'Failed' ? failedEventReason(e.message ?? '') : undefined;
    if (!failed || !reasons.includes(failed.reason)) continue;
    const container = /\{([^}]+)\}/.exec(e.involvedObject.fieldPath ?? '')?.[1] ?? '';
    const pull = events.find(
      (o) =>
        o.involvedObject.uid === e.involvedObject.uid &&
        o.involvedObject.fieldPath === e.involvedObject.fieldPath &&
        o.message?.startsWith('Failed to pull image'),
    );
    const pod: V1Pod = {
      metadata: { name: e.involvedObject.name, namespace, uid: e.involvedObject.uid },
    };
    return {
      pod,
      container,
      reason: failed.reason,
      message: failed.message || (pull?.message ?? ''),
      seenAt: Date.now(),
    };
  }
  return false;
}

/** One line per pod and container: what the test saw when it gave up. */
async function statusSummary(kc: KubeConfig, namespace: string, app: string): Promise<string> {
  const pods = await podsOf(kc, namespace, app);
  if (pods.length === 0) return 'no pods';
  return pods
    .map((p) =>
      [
        `${p.metadata?.name} ${p.status?.phase ?? '?'} on ${p.spec?.nodeName ?? '(unscheduled)'}`,
        ...allStatuses(p).map((s) => {
          const state = s.state?.waiting
            ? `waiting ${s.state.waiting.reason}: ${s.state.waiting.message ?? ''}`
            : s.state?.running
              ? 'running'
              : `terminated ${s.state?.terminated?.reason ?? ''}`;
          return `  ${s.name} ${state}`;
        }),
      ].join('\n'),
    )
    .join('\n');
}

/**
 * Waits until kubelet reports one of `reasons` (e.g. ErrImagePull, ImagePullBackOff, CreateContainerError) for a
 * container of a pod of `app`, in a pod's status or in kubelet's events; returns kubelet's own reason and message.
 * On a timeout the error says what the pods looked like.
 */
export async function awaitKubeletFailure(
  kc: KubeConfig,
  namespace: string,
  app: string,
  reasons: string[],
  timeoutMs = 120_000,
): Promise<KubeletFailure> {
  const what = `kubelet to report ${reasons.join('/')} for a pod of ${namespace}/${app}`;
  try {
    return await waitFor(
      what,
      async () => {
        const pods = await podsOf(kc, namespace, app);
        for (const pod of pods) {
          for (const s of allStatuses(pod)) {
            const w = s.state?.waiting;
            if (w?.reason && reasons.includes(w.reason)) {
              return {
                pod,
                container: s.name,
                reason: w.reason,
                message: w.message ?? '',
                seenAt: Date.now(),
              };
            }
          }
        }
        const live = new Set(pods.map((p) => p.metadata?.uid ?? ''));
        return failureFromEvents(kc, namespace, app, reasons, live);
      },
      { timeoutMs, intervalMs: 250 },
    );
  } catch (err) {
    const seen = await statusSummary(kc, namespace, app).catch((e: unknown) => String(e));
    throw new Error(`${(err as Error).message}\npods of ${namespace}/${app}:\n${seen}`);
  }
}

/** A pod that runs: every regular container running and Ready. */
export interface RunningPod {
  pod: V1Pod;
  /** When the test first saw it Ready. */
  readyAt: number;
}

/** True when every regular container of the pod runs and is ready. */
export function isRunningReady(pod: V1Pod): boolean {
  const statuses = pod.status?.containerStatuses ?? [];
  return (
    pod.status?.phase === 'Running' &&
    statuses.length === (pod.spec?.containers.length ?? 0) &&
    statuses.every((s) => s.ready && s.state?.running)
  );
}

/**
 * Waits for a pod of `app` that runs and is Ready (optionally only on `node`, and only one whose image ID is
 * `digest`, i.e. started from that image); returns it.
 */
export async function awaitRunning(
  kc: KubeConfig,
  namespace: string,
  app: string,
  opts: { node?: string; digest?: string; timeoutMs?: number } = {},
): Promise<RunningPod> {
  return waitFor(
    `a Running, Ready pod of ${namespace}/${app}${opts.node ? ` on ${opts.node}` : ''}`,
    async () => {
      const pod = (await podsOf(kc, namespace, app)).find(
        (p) =>
          isRunningReady(p) &&
          (!opts.node || p.spec?.nodeName === opts.node) &&
          (!opts.digest ||
            (p.status?.containerStatuses ?? []).every((s) => s.imageID?.endsWith(opts.digest ?? ''))),
      );
      return pod ? { pod, readyAt: Date.now() } : false;
    },
    { timeoutMs: opts.timeoutMs ?? 180_000, intervalMs: 250 },
  );
}

/** The container's log through the apiserver and the node's kubelet (what `kubectl logs` shows). */
export async function podLog(kc: KubeConfig, pod: V1Pod, container?: string): Promise<string> {
  return kc.makeApiClient(CoreV1Api).readNamespacedPodLog({
    name: pod.metadata?.name ?? '',
    namespace: pod.metadata?.namespace ?? '',
    container,
  });
}
