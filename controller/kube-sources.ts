/**
 * The controller's Kubernetes I/O over infra/kube-http.ts: list/watch sources for the informers and the owner
 * fetcher. Lists are parsed as plain JSON (no model classes) and slimmed at once by the informer.
 */
import { ownerApiPath } from '../common/opt-in.js';
import type { KubeHttp } from '../infra/kube-http.js';
import type { ListPage, ListWatchSource, WatchHandle } from './informer.js';
import type { OwnerKey } from './opt-in.js';
import type { OwnerFetcher } from './owners.js';
import type { ObjectMeta, OwnerObject } from './types.js';

interface ListBody {
  items?: unknown[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** A source that lists and watches the collection at `path` (e.g. `/api/v1/pods`), bookmarks on. */
export function listWatchSource(kube: KubeHttp, path: string): ListWatchSource<unknown> {
  return {
    async list(opts): Promise<ListPage<unknown>> {
      const res = await kube.get<ListBody>(path, { limit: opts.limit, continue: opts.continueToken });
      if (!res) throw Object.assign(new Error(`list ${path}: not found`), { code: 404 });
      return {
        items: res.items ?? [],
        resourceVersion: res.metadata?.resourceVersion ?? '',
        continueToken: res.metadata?.continue || undefined,
      };
    },
    async watch(opts, onEvent, onDone): Promise<WatchHandle> {
      const query = {
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: opts.timeoutSeconds,
      };
      return kube.watch(path, query, onEvent, onDone);
    },
  };
}

/** Pods in every namespace. */
export const PODS_PATH = '/api/v1/pods';
/** Namespaces. */
export const NAMESPACES_PATH = '/api/v1/namespaces';
/** Nodes (for `status.images`). */
export const NODES_PATH = '/api/v1/nodes';

/** Reads owners of the kinds opt-in follows (common/opt-in.ts FOLLOWED_KINDS); null when the owner is gone (404) or of an unknown kind. */
export function kubeOwnerFetcher(kube: KubeHttp): OwnerFetcher {
  return {
    async fetch(key: OwnerKey): Promise<OwnerObject | null> {
      const p = ownerApiPath(key.kind, key.namespace, key.name);
      if (!p) return null;
      const obj = await kube.get<{ metadata?: ObjectMeta }>(p);
      return obj ? { kind: key.kind, metadata: obj.metadata } : null;
    },
  };
}
