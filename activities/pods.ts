/**
 * Pod restart: deleting a pod that has an owner makes its controller create a fresh one at once, which then finds
 * the image on the node instead of waiting out kubelet's pull back-off. An unowned pod is never deleted: nothing
 * would bring it back. Nor is a pod whose container pulls with `imagePullPolicy: Always`: kubelet asks the
 * registry on every start, so its replacement would fail the same way and tote would delete that one too.
 */
import { cancellationSignal } from '@temporalio/activity';
import { ANNOTATIONS } from '../common/names.js';
import { pullPolicyPatch, pullPolicyRevertCommand, type ContainerList } from '../common/pull-policy.js';
import type { ActivityDeps, KubePort, ObjectMeta, OwnerRef } from './deps.js';
import { mapFailures } from './failures.js';
import { controllerOf, OWNER_LEVELS } from './policy.js';
import type { PodRef, PullPolicyChange } from './types.js';

/** What `deleteOwnedPod` did. */
export interface RestartResult {
  deleted: boolean;
  /** Why nothing was deleted. */
  reason?: 'gone' | 'unowned' | 'replaced' | 'pull-policy-always';
  /** The workload at the top of the pod's owner chain (e.g. the Deployment), when it has one. */
  workload?: OwnerRef;
  /** The pull-policy switch made before the restart (`tote.dev/pull-policy-remedy`). */
  pullPolicyChange?: PullPolicyChange;
}

/** Input of `deleteOwnedPod`. */
export interface RestartInput {
  pod: PodRef;
  /** The failing container's pull policy; `Always` means a restart cannot help (see the module comment). */
  pullPolicy?: string;
  /** The failing container and its list, for the pull-policy remedy. */
  container?: string;
  containerList?: ContainerList;
  /** The workflow asking, recorded on the workload it changes. */
  workflowId?: string;
}

interface Workload {
  ref: OwnerRef;
  meta: ObjectMeta | null;
}

/** The top of the pod's controller chain (ReplicaSet → Deployment, Job → CronJob), at most two levels up. */
async function topWorkload(
  kube: KubePort,
  namespace: string,
  pod: ObjectMeta,
): Promise<Workload | undefined> {
  const signal = cancellationSignal();
  let owner = controllerOf(pod);
  if (!owner) return undefined;
  let meta = await kube.getOwner(namespace, owner, { signal });
  for (let level = 1; meta && level < OWNER_LEVELS; level++) {
    const up = controllerOf(meta);
    if (!up) break;
    const upMeta = await kube.getOwner(namespace, up, { signal });
    if (!upMeta) break;
    [owner, meta] = [up, upMeta];
  }
  return { ref: { kind: owner.kind, name: owner.name }, meta };
}

/**
 * True when the workload carries `tote.dev/pull-policy-remedy: "true"`, or the Namespace does and the workload does
 * not say `"false"` (the workload's own word wins, as for the salvage opt-in).
 */
async function remedyOptedIn(kube: KubePort, namespace: string, workload: Workload): Promise<boolean> {
  const key = ANNOTATIONS.pullPolicyRemedy;
  const own = workload.meta?.annotations[key];
  if (own === 'true' || own === 'false') return own === 'true';
  const ns = await kube.getNamespace(namespace, { signal: cancellationSignal() });
  return ns?.annotations[key] === 'true';
}

/**
 * The pull-policy remedy, when the worker allows it (`--pull-policy-remedy`) and the Namespace or the workload
 * opts in with `tote.dev/pull-policy-remedy: "true"`: the workload's pod template gets `IfNotPresent` for the
 * failing container, and the workload an annotation saying what was changed (so `tote pull-policy revert` can
 * undo it). Returns the change, or undefined when not allowed or not possible (a bare pod, a Job).
 */
async function remedy(
  deps: ActivityDeps,
  input: RestartInput,
  workload: Workload | undefined,
): Promise<PullPolicyChange | undefined> {
  const { kube, config } = deps;
  if (!config.pullPolicyRemedy || !workload || !kube.patchWorkload) return undefined;
  const signal = cancellationSignal();
  if (!(await remedyOptedIn(kube, input.pod.namespace, workload))) return undefined;
  const container = input.container ?? '';
  const list = input.containerList ?? 'containers';
  const patch = pullPolicyPatch(workload.ref, container, list, 'IfNotPresent');
  if (!container || !patch) return undefined;
  const note = { container, list, from: 'Always', workflowId: input.workflowId ?? '' };
  const body = {
    ...patch,
    metadata: { annotations: { [ANNOTATIONS.pullPolicyChanged]: JSON.stringify(note) } },
  };
  const patched = await kube.patchWorkload(input.pod.namespace, workload.ref, body, { signal });
  if (!patched) return undefined;
  return {
    workload: `${workload.ref.kind.toLowerCase()}/${workload.ref.name}`,
    container,
    from: 'Always',
    to: 'IfNotPresent',
    revert: pullPolicyRevertCommand(input.pod.namespace, workload.ref),
  };
}

/** Builds the pod activities. */
export function createPodActivities(deps: ActivityDeps): {
  deleteOwnedPod(input: RestartInput): Promise<RestartResult>;
} {
  return {
    /** Deletes the pod if a controller owns it; the uid precondition protects a replacement with the same name. */
    async deleteOwnedPod(input: RestartInput): Promise<RestartResult> {
      const { pod } = input;
      const signal = cancellationSignal();
      const meta = await mapFailures('read pod', () => deps.kube.getPod(pod, { signal }));
      if (!meta) return { deleted: false, reason: 'gone' };
      if (pod.uid && meta.uid && pod.uid !== meta.uid) return { deleted: false, reason: 'replaced' };
      let pullPolicyChange: PullPolicyChange | undefined;
      if (input.pullPolicy === 'Always') {
        const workload = await mapFailures('read owners', () => topWorkload(deps.kube, pod.namespace, meta));
        pullPolicyChange = await mapFailures('switch the pull policy', () => remedy(deps, input, workload));
        if (!pullPolicyChange) {
          return {
            deleted: false,
            reason: 'pull-policy-always',
            ...(workload ? { workload: workload.ref } : {}),
          };
        }
      }
      const changed = pullPolicyChange ? { pullPolicyChange } : {};
      if (meta.ownerReferences.length === 0) return { deleted: false, reason: 'unowned', ...changed };
      // After a pull-policy switch the old pod still pulls with Always (a pod's spec is immutable): replace it.
      const deleted = await mapFailures('delete pod', () =>
        deps.kube.deletePod({ ...pod, uid: pod.uid ?? meta.uid }, { signal }),
      );
      return deleted ? { deleted, ...changed } : { deleted, reason: 'gone', ...changed };
    },
  };
}
