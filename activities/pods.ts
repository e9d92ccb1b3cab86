/**
 * Pod restart: deleting a pod that has an owner makes its controller create a fresh one at once, which then finds
 * the image on the node instead of waiting out kubelet's pull back-off. An unowned pod is never deleted: nothing
 * would bring it back. Nor is a pod whose container pulls with `imagePullPolicy: Always`: kubelet asks the
 * registry on every start, so its replacement would fail the same way and tote would delete that one too.
 */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps, KubePort, ObjectMeta, OwnerRef } from './deps.js';
import { mapFailures } from './failures.js';
import { controllerOf, OWNER_LEVELS } from './policy.js';
import type { PodRef } from './types.js';

/** What `deleteOwnedPod` did. */
export interface RestartResult {
  deleted: boolean;
  /** Why nothing was deleted. */
  reason?: 'gone' | 'unowned' | 'replaced' | 'pull-policy-always';
  /** The workload at the top of the pod's owner chain (e.g. the Deployment), when it has one. */
  workload?: OwnerRef;
}

/** Input of `deleteOwnedPod`. */
export interface RestartInput {
  pod: PodRef;
  /** The failing container's pull policy; `Always` means a restart cannot help (see the module comment). */
  pullPolicy?: string;
}

/** The top of the pod's controller chain (ReplicaSet → Deployment, Job → CronJob), at most two levels up. */
async function topWorkload(
  kube: KubePort,
  namespace: string,
  pod: ObjectMeta,
): Promise<OwnerRef | undefined> {
  let owner = controllerOf(pod);
  for (let level = 1; owner && level < OWNER_LEVELS; level++) {
    const meta = await kube.getOwner(namespace, owner, { signal: cancellationSignal() });
    const up = meta ? controllerOf(meta) : undefined;
    if (!up) break;
    owner = up;
  }
  return owner ? { kind: owner.kind, name: owner.name } : undefined;
}

/** Builds the pod activities. */
export function createPodActivities(deps: ActivityDeps): {
  deleteOwnedPod(input: RestartInput): Promise<RestartResult>;
} {
  return {
    /** Deletes the pod if a controller owns it; the uid precondition protects a replacement with the same name. */
    async deleteOwnedPod({ pod, pullPolicy }: RestartInput): Promise<RestartResult> {
      const signal = cancellationSignal();
      const meta = await mapFailures('read pod', () => deps.kube.getPod(pod, { signal }));
      if (!meta) return { deleted: false, reason: 'gone' };
      if (pod.uid && meta.uid && pod.uid !== meta.uid) return { deleted: false, reason: 'replaced' };
      if (pullPolicy === 'Always') {
        const workload = await mapFailures('read owners', () => topWorkload(deps.kube, pod.namespace, meta));
        return { deleted: false, reason: 'pull-policy-always', ...(workload ? { workload } : {}) };
      }
      if (meta.ownerReferences.length === 0) return { deleted: false, reason: 'unowned' };
      const deleted = await mapFailures('delete pod', () =>
        deps.kube.deletePod({ ...pod, uid: pod.uid ?? meta.uid }, { signal }),
      );
      return deleted ? { deleted } : { deleted, reason: 'gone' };
    },
  };
}
