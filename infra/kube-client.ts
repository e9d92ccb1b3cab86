/**
 * The Kubernetes adapter of the worker's activities (structurally the `KubePort` of activities/deps.ts; infra/
 * may not import activities/, so the composition root checks the fit). Reads answer null on 404, deletes false,
 * creates false on 409; every other status propagates as `ApiException` for activities/failures.ts to classify.
 */
import { randomBytes } from 'node:crypto';
import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  PatchStrategy,
  V1MicroTime,
  setHeaderOptions,
  type ConfigurationOptions,
  type KubeConfig,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import { isFollowedKind, type FollowedKind } from '../common/opt-in.js';
import { listRunningPods, type RunningPodInfo } from './running-pods.js';

/** SalvageRecord coordinates. MAINTENANCE: charts/tote/crds/salvagerecords.tote.dev.yaml. */
export const SALVAGE_RECORDS = { group: 'tote.dev', version: 'v1alpha1', plural: 'salvagerecords' } as const;

/** Options of {@link KubeClient}. */
export interface KubeClientOptions {
  /** Namespace and label selector of the agent DaemonSet's pods. */
  agentNamespace: string;
  agentSelector: string;
  /** events.k8s.io `reportingInstance`: the worker's pod name or host name. */
  instance: string;
}

type Signal = { signal?: AbortSignal };
type Meta = { uid?: string; annotations: Record<string, string>; ownerReferences: OwnerRef[] };
type OwnerRef = { apiVersion?: string; kind: string; name: string; controller?: boolean };
type PodRef = { namespace: string; name: string; uid?: string };

/**
 * The generated API runs middleware in its own minimal observable: `pre` must return something with
 * `toPromise()` (and `pipe`), as the library's own `setHeaderOptions` middleware does.
 */
function observableOf<T>(value: T): { toPromise(): Promise<T>; pipe<R>(f: (v: T) => R): unknown } {
  const promise = Promise.resolve(value);
  return { toPromise: () => promise, pipe: (f) => observableOf(promise.then(f)) };
}

/** Per-call options: the abort signal (and a Content-Type for patches) as request middleware. */
export function callOptions(signal?: AbortSignal, contentType?: string): ConfigurationOptions {
  const base = contentType ? setHeaderOptions('Content-Type', contentType) : {};
  if (!signal) return base as ConfigurationOptions;
  const withSignal = {
    pre: (ctx: { setSignal(s: AbortSignal): void }) => {
      ctx.setSignal(signal);
      return observableOf(ctx);
    },
    post: <T>(res: T) => observableOf(res),
  };
  const middleware = [...((base as { middleware?: unknown[] }).middleware ?? []), withSignal];
  return { ...base, middleware, middlewareMergeStrategy: 'append' } as unknown as ConfigurationOptions;
}

/** Runs a call; a 404 (or 409 for `conflictValue`) becomes the given value instead of an error. */
async function tolerate<T, F>(call: Promise<T>, onNotFound: F, conflict?: { value: F }): Promise<T | F> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return onNotFound;
    if (conflict && err instanceof ApiException && err.code === 409) return conflict.value;
    throw err;
  }
}

function meta(m: V1ObjectMeta | undefined): Meta {
  return {
    uid: m?.uid,
    annotations: m?.annotations ?? {},
    ownerReferences: (m?.ownerReferences ?? []).map((o) => ({
      // The opt-in rule checks the owner's API group (a Deployment of another group is not apps/v1's).
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.name,
      controller: o.controller,
    })),
  };
}

/** The apiserver wants a DNS subdomain: the pod name (trimmed) plus a unique suffix, as client-go names events. */
function eventName(pod: string): string {
  return `${pod.slice(0, 200)}.${Date.now().toString(16)}${randomBytes(4).toString('hex')}`;
}

/** Kubernetes access for the worker's activities. */
export class KubeClient {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;
  private readonly events: EventsV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    private readonly opts: KubeClientOptions,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.events = kc.makeApiClient(EventsV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** Nodes and the image names kubelet reports for them. */
  async listNodes(o: Signal = {}): Promise<{ name: string; internalIP?: string; imageNames: string[] }[]> {
    const list = await this.core.listNode({}, callOptions(o.signal));
    return list.items.map((n) => ({
      name: n.metadata?.name ?? '',
      internalIP: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address,
      imageNames: (n.status?.images ?? []).flatMap((i) => i.names ?? []),
    }));
  }

  /** The agent DaemonSet's pods: node, pod IP, readiness. */
  async listAgentPods(o: Signal = {}): Promise<{ node: string; podIP: string; ready: boolean }[]> {
    const { agentNamespace: namespace, agentSelector: labelSelector } = this.opts;
    const list = await this.core.listNamespacedPod({ namespace, labelSelector }, callOptions(o.signal));
    return list.items.map((p) => ({
      node: p.spec?.nodeName ?? '',
      podIP: p.status?.podIP ?? '',
      ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    }));
  }

  /** A namespace's metadata, or null. */
  async getNamespace(name: string, o: Signal = {}): Promise<Meta | null> {
    const ns = await tolerate(this.core.readNamespace({ name }, callOptions(o.signal)), null);
    return ns && meta(ns.metadata);
  }

  /** A pod's metadata, or null. */
  async getPod(pod: PodRef, o: Signal = {}): Promise<Meta | null> {
    const p = await tolerate(this.core.readNamespacedPod(pod, callOptions(o.signal)), null);
    return p && meta(p.metadata);
  }

  /** An owner's metadata (the kinds of common/opt-in.ts FOLLOWED_KINDS), or null when gone or of another kind. */
  async getOwner(namespace: string, owner: OwnerRef, o: Signal = {}): Promise<Meta | null> {
    const req = { namespace, name: owner.name };
    const opt = callOptions(o.signal);
    const readers: Record<FollowedKind, () => Promise<{ metadata?: V1ObjectMeta }>> = {
      ReplicaSet: () => this.apps.readNamespacedReplicaSet(req, opt),
      Deployment: () => this.apps.readNamespacedDeployment(req, opt),
      StatefulSet: () => this.apps.readNamespacedStatefulSet(req, opt),
      DaemonSet: () => this.apps.readNamespacedDaemonSet(req, opt),
      Job: () => this.batch.readNamespacedJob(req, opt),
      CronJob: () => this.batch.readNamespacedCronJob(req, opt),
    };
    if (!isFollowedKind(owner.kind)) return null;
    const read = readers[owner.kind];
    const obj = await tolerate(read(), null);
    return obj && meta(obj.metadata);
  }

  /** Records an events.k8s.io/v1 event on the pod (`eventTime` as MicroTime: the apiserver wants 6 digits). */
  async createEvent(
    e: { pod: PodRef; type: 'Normal' | 'Warning'; reason: string; action: string; message: string },
    o: Signal = {},
  ): Promise<void> {
    const body = {
      metadata: { name: eventName(e.pod.name), namespace: e.pod.namespace },
      eventTime: new V1MicroTime(),
      type: e.type,
      reason: e.reason,
      action: e.action,
      note: e.message,
      reportingController: 'tote.dev/worker',
      reportingInstance: this.opts.instance.slice(0, 128),
      regarding: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: e.pod.namespace,
        name: e.pod.name,
        uid: e.pod.uid,
      },
    };
    await this.events.createNamespacedEvent({ namespace: e.pod.namespace, body }, callOptions(o.signal));
  }

  /** Creates a SalvageRecord (false when it exists already), then sets its status through the subresource. */
  async createSalvageRecord(
    rec: { namespace: string; name: string; spec: object; status: object; labels?: Record<string, string> },
    o: Signal = {},
  ): Promise<boolean> {
    const { namespace, name } = rec;
    const body = {
      apiVersion: `${SALVAGE_RECORDS.group}/${SALVAGE_RECORDS.version}`,
      kind: 'SalvageRecord',
      metadata: { name, namespace, labels: rec.labels },
      spec: rec.spec,
    };
    const created = await tolerate(
      this.custom.createNamespacedCustomObject(
        { ...SALVAGE_RECORDS, namespace, body },
        callOptions(o.signal),
      ),
      true,
      { value: false },
    );
    // Status is written on every attempt: a previous attempt may have created the record and died before this.
    await this.custom.patchNamespacedCustomObjectStatus(
      { ...SALVAGE_RECORDS, namespace, name, body: { status: rec.status } },
      callOptions(o.signal, PatchStrategy.MergePatch),
    );
    return created !== false;
  }

  /** Every SalvageRecord in every namespace. */
  async listSalvageRecords(
    o: Signal = {},
  ): Promise<{ namespace: string; name: string; createdAt: string }[]> {
    const list = (await this.custom.listClusterCustomObject(
      { ...SALVAGE_RECORDS },
      callOptions(o.signal),
    )) as {
      items?: { metadata?: V1ObjectMeta }[];
    };
    return (list.items ?? []).map((r) => ({
      namespace: r.metadata?.namespace ?? '',
      name: r.metadata?.name ?? '',
      createdAt: String(r.metadata?.creationTimestamp ?? ''),
    }));
  }

  /** Deletes a SalvageRecord; false when already gone. */
  async deleteSalvageRecord(namespace: string, name: string, o: Signal = {}): Promise<boolean> {
    const req = { ...SALVAGE_RECORDS, namespace, name };
    return (
      (await tolerate(this.custom.deleteNamespacedCustomObject(req, callOptions(o.signal)), false)) !== false
    );
  }

  /** Strategic-merge patches a workload that has a pod template; false when it is gone or of another kind. */
  async patchWorkload(
    namespace: string,
    workload: OwnerRef,
    patch: object,
    o: Signal = {},
  ): Promise<boolean> {
    const req = { namespace, name: workload.name, body: patch };
    const opt = callOptions(o.signal, PatchStrategy.StrategicMergePatch);
    const patchers: Record<string, () => Promise<unknown>> = {
      Deployment: () => this.apps.patchNamespacedDeployment(req, opt),
      StatefulSet: () => this.apps.patchNamespacedStatefulSet(req, opt),
      DaemonSet: () => this.apps.patchNamespacedDaemonSet(req, opt),
      ReplicaSet: () => this.apps.patchNamespacedReplicaSet(req, opt),
      CronJob: () => this.batch.patchNamespacedCronJob(req, opt),
    };
    const run = patchers[workload.kind];
    if (!run) return false;
    return (await tolerate(run(), false)) !== false;
  }

  /** Deletes a pod, preconditioned on its uid; false when gone or replaced (precondition conflict). */
  async deletePod(pod: PodRef, o: Signal = {}): Promise<boolean> {
    const body = pod.uid ? { preconditions: { uid: pod.uid } } : {};
    const req = { namespace: pod.namespace, name: pod.name, body };
    const res = await tolerate(this.core.deleteNamespacedPod(req, callOptions(o.signal)), false, {
      value: false,
    });
    return res !== false;
  }

  /** Pods in phase Running (in `namespace`, or all) with their containers' images, for the last-copy scan. */
  async listRunningPods(namespace: string | undefined, o: Signal = {}): Promise<RunningPodInfo[]> {
    return listRunningPods(this.core, namespace, callOptions(o.signal));
  }

  /** The decoded `.dockerconfigjson` of a Secret, or null. Never logged. */
  async readDockerConfig(namespace: string, name: string, o: Signal = {}): Promise<string | null> {
    const s = await tolerate(
      this.core.readNamespacedSecret({ namespace, name }, callOptions(o.signal)),
      null,
    );
    const data = s?.data?.['.dockerconfigjson'];
    return data ? Buffer.from(data, 'base64').toString('utf8') : null;
  }
}
