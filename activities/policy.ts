/**
 * Policy and opt-in: what the worker configuration and the namespace say, read again right before tote acts.
 * The controller checked opt-in when it started the workflow; hours may pass (approval), so the workflow asks again.
 */
import { cancellationSignal } from '@temporalio/activity';
import { ANNOTATIONS, DENIED_NAMESPACES } from '../common/names.js';
import {
  annotationValue,
  booleanOf,
  modeOf,
  ownersToFollow,
  parentsToFollow,
  workloadVote,
  type FetchedObject,
  type Vote,
} from '../common/opt-in.js';
import type { ActivityDeps, KubePort, ObjectMeta, OwnerRef } from './deps.js';
import { mapFailures, optInWithdrawn } from './failures.js';
import type { PodRef, SalvagePolicy } from './types.js';

/** How many owner levels above the pod count (activities/pods.ts walks the same chain for the remedy). */
export { OWNER_LEVELS } from '../common/opt-in.js';

/** The owner that controls `meta` (or its first owner). */
export function controllerOf(meta: ObjectMeta): OwnerRef | undefined {
  return meta.ownerReferences.find((o) => o.controller) ?? meta.ownerReferences[0];
}

/**
 * The pod's owners the opt-in rule follows, fetched level by level: common/opt-in.ts names which (kinds, API
 * groups, two levels), so the worker reads the same objects the controller did.
 */
async function fetchOwners(kube: KubePort, namespace: string, pod: ObjectMeta): Promise<FetchedObject[]> {
  const signal = cancellationSignal();
  const get = async (ref: OwnerRef): Promise<FetchedObject[]> => {
    const meta = await kube.getOwner(namespace, ref, { signal });
    return meta ? [{ kind: ref.kind, metadata: { ...meta, name: ref.name } }] : [];
  };
  const first = (await Promise.all(ownersToFollow(pod).map(get))).flat();
  const second = (await Promise.all(first.flatMap((o) => parentsToFollow(o).map(get)))).flat();
  return [...first, ...second];
}

/** The workload's `tote.dev/auto-salvage` vote, by the controller's rule (common/opt-in.ts `workloadVote`). */
async function workloadOptIn(kube: KubePort, pod: PodRef, meta: ObjectMeta): Promise<Vote | undefined> {
  const owners = await fetchOwners(kube, pod.namespace, meta);
  return workloadVote({ ...meta, name: pod.name }, owners).vote;
}

/** Options of `checkOptIn`. */
export interface OptInCheck {
  /**
   * Whether the pod or its owners must carry `tote.dev/auto-salvage`. False for a salvage an operator asked for
   * explicitly (`tote salvage`): the command replaces the automation opt-in, never the namespace's. @default true
   */
  requireWorkload?: boolean;
}

/** Builds the policy activities. */
export function createPolicyActivities(deps: ActivityDeps): {
  loadPolicy(pod: PodRef): Promise<SalvagePolicy>;
  checkOptIn(pod: PodRef, opts?: OptInCheck): Promise<void>;
} {
  const { kube, config } = deps;
  return {
    /**
     * The worker's configuration with the namespace's `tote.dev/mode` applied: absent, the worker's `--mode`;
     * invalid, `detect-only` (common/opt-in.ts `modeOf`, the controller's rule too).
     */
    async loadPolicy(pod: PodRef): Promise<SalvagePolicy> {
      const ns = await mapFailures('read namespace', () =>
        kube.getNamespace(pod.namespace, { signal: cancellationSignal() }),
      );
      return {
        mode: modeOf(annotationValue(ns?.annotations, ANNOTATIONS.mode), config.mode),
        maxImageSizeBytes: config.maxImageSizeBytes,
        approveTimeoutMs: config.approveTimeoutMs,
        transferAttempts: config.transferAttempts,
        backup: config.backup !== undefined,
      };
    },

    /**
     * Throws `OptInWithdrawn` unless the namespace and the workload still opt in and the pod still exists: the
     * controller's rule, so a pod set to `"false"` under a Deployment saying `"true"` is withdrawn. With
     * `requireWorkload: false` (an operator's `tote salvage`) the workload's annotation is not needed.
     */
    async checkOptIn(pod: PodRef, opts: OptInCheck = {}): Promise<void> {
      if (DENIED_NAMESPACES.includes(pod.namespace)) {
        throw optInWithdrawn(`namespace ${pod.namespace} is never touched by tote`);
      }
      const signal = cancellationSignal();
      const ns = await mapFailures('read namespace', () => kube.getNamespace(pod.namespace, { signal }));
      if (booleanOf(annotationValue(ns?.annotations, ANNOTATIONS.allow)) !== true) {
        throw optInWithdrawn(`namespace ${pod.namespace} no longer has ${ANNOTATIONS.allow}="true"`);
      }
      const meta = await mapFailures('read pod', () => kube.getPod(pod, { signal }));
      if (!meta || (pod.uid && meta.uid && meta.uid !== pod.uid)) {
        throw optInWithdrawn(`pod ${pod.namespace}/${pod.name} no longer exists`);
      }
      if (opts.requireWorkload === false) return;
      const vote = await mapFailures('read owners', () => workloadOptIn(kube, pod, meta));
      if (!vote) {
        throw optInWithdrawn(
          `pod ${pod.namespace}/${pod.name} and its owners no longer carry ${ANNOTATIONS.autoSalvage}`,
        );
      }
      if (!vote.value) {
        throw optInWithdrawn(
          `pod ${pod.namespace}/${pod.name} is opted out: ${vote.by.kind} ${vote.by.name} sets ${ANNOTATIONS.autoSalvage} to a value other than "true"`,
        );
      }
    },
  };
}
