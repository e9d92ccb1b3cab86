/**
 * The controller's Kubernetes I/O over @kubernetes/client-node 1.4: list/watch sources for the informers and the
 * owner fetcher. Nothing here decides anything; the pure modules (detect, opt-in, resolve) do.
 */
import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  Watch,
  type KubeConfig,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import type { ListPage, ListWatchSource, WatchHandle } from './informer.js';
import type { OwnerKey } from './opt-in.js';
import type { OwnerFetcher } from './owners.js';
import type { OwnerObject } from './types.js';

interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string; _continue?: string };
}

type ListFn<T> = (p: { limit: number; _continue?: string }) => Promise<ListResult<T>>;

/** A source that lists with `list` and watches `path` (e.g. `/api/v1/pods`) with bookmarks on. */
export function listWatchSource<T>(kc: KubeConfig, path: string, list: ListFn<T>): ListWatchSource<T> {
  const watcher = new Watch(kc);
  return {
    async list(opts): Promise<ListPage<T>> {
      const res = await list({ limit: opts.limit, _continue: opts.continueToken });
      return {
        items: res.items,
        resourceVersion: res.metadata?.resourceVersion ?? '',
        continueToken: res.metadata?._continue || undefined,
      };
    },
    async watch(opts, onEvent, onDone): Promise<WatchHandle> {
      const query = {
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: opts.timeoutSeconds,
      };
      const ctl = await watcher.watch(path, query, onEvent, onDone);
      return { abort: () => ctl.abort() };
    },
  };
}

/** Pods in every namespace. */
export function podSource(kc: KubeConfig): ListWatchSource<unknown> {
  const core = kc.makeApiClient(CoreV1Api);
  return listWatchSource(kc, '/api/v1/pods', (p) => core.listPodForAllNamespaces(p));
}

/** Namespaces. */
export function namespaceSource(kc: KubeConfig): ListWatchSource<unknown> {
  const core = kc.makeApiClient(CoreV1Api);
  return listWatchSource(kc, '/api/v1/namespaces', (p) => core.listNamespace(p));
}

/** Nodes (for `status.images`). */
export function nodeSource(kc: KubeConfig): ListWatchSource<unknown> {
  const core = kc.makeApiClient(CoreV1Api);
  return listWatchSource(kc, '/api/v1/nodes', (p) => core.listNode(p));
}

type ReadFn = (p: { name: string; namespace: string }) => Promise<{ metadata?: V1ObjectMeta }>;

/** Reads owners of the kinds opt-in follows; null when the owner is gone (404) or of an unknown kind. */
export function kubeOwnerFetcher(kc: KubeConfig): OwnerFetcher {
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const readers: Record<string, ReadFn> = {
    ReplicaSet: (p) => apps.readNamespacedReplicaSet(p),
    Deployment: (p) => apps.readNamespacedDeployment(p),
    StatefulSet: (p) => apps.readNamespacedStatefulSet(p),
    DaemonSet: (p) => apps.readNamespacedDaemonSet(p),
    Job: (p) => batch.readNamespacedJob(p),
    CronJob: (p) => batch.readNamespacedCronJob(p),
  };
  return {
    async fetch(key: OwnerKey): Promise<OwnerObject | null> {
      const read = readers[key.kind];
      if (!read) return null;
      try {
        const obj = await read({ name: key.name, namespace: key.namespace });
        return { kind: key.kind, metadata: obj.metadata };
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return null;
        throw new Error(`read ${key.kind} ${key.namespace}/${key.name}`, { cause: err });
      }
    },
  };
}
