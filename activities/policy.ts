/**
 * Policy and opt-in: what the worker configuration and the namespace say, read again right before tote acts.
 * The controller checked opt-in when it started the workflow; hours may pass (approval), so the workflow asks again.
 */
import { cancellationSignal } from '@temporalio/activity';
import { ANNOTATIONS, DENIED_NAMESPACES } from '../common/names.js';
import type { ActivityDeps, KubePort, ObjectMeta, OwnerRef } from './deps.js';
import { mapFailures, optInWithdrawn } from './failures.js';
import type { PodRef, SalvageMode, SalvagePolicy } from './types.js';

const MODES: readonly SalvageMode[] = ['auto', 'approve', 'detect-only'];

/** How many owner levels above the pod carry `tote.dev/auto-salvage` (ReplicaSet → Deployment, Job → CronJob). */
export const OWNER_LEVELS = 2;

/** The mode a namespace annotation selects, or undefined when the value is absent or invalid. */
export function modeFromAnnotation(value: string | undefined): SalvageMode | undefined {
  return MODES.find((m) => m === value);
}

/** The owner that controls `meta` (or its first owner). */
export function controllerOf(meta: ObjectMeta): OwnerRef | undefined {
  return meta.ownerReferences.find((o) => o.controller) ?? meta.ownerReferences[0];
}

/** True when the pod or one of its first two owners carries `tote.dev/auto-salvage: "true"`. */
export async function workloadOptedIn(kube: KubePort, namespace: string, pod: ObjectMeta): Promise<boolean> {
  let meta: ObjectMeta | null = pod;
  for (let level = 0; meta && level <= OWNER_LEVELS; level++) {
    if (meta.annotations[ANNOTATIONS.autoSalvage] === 'true') return true;
    const owner = controllerOf(meta);
    meta = owner ? await kube.getOwner(namespace, owner, { signal: cancellationSignal() }) : null;
  }
  return false;
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
    /** The worker's configuration with the namespace's `tote.dev/mode` override applied. */
    async loadPolicy(pod: PodRef): Promise<SalvagePolicy> {
      const ns = await mapFailures('read namespace', () =>
        kube.getNamespace(pod.namespace, { signal: cancellationSignal() }),
      );
      return {
        mode: modeFromAnnotation(ns?.annotations[ANNOTATIONS.mode]) ?? config.mode,
        maxImageSizeBytes: config.maxImageSizeBytes,
        approveTimeoutMs: config.approveTimeoutMs,
        transferAttempts: config.transferAttempts,
        backup: config.backup !== undefined,
      };
    },

    /**
     * Throws `OptInWithdrawn` unless the namespace and the workload still opt in and the pod still exists. With
     * `requireWorkload: false` (an operator's `tote salvage`) the workload's annotation is not needed.
     */
    async checkOptIn(pod: PodRef, opts: OptInCheck = {}): Promise<void> {
      if (DENIED_NAMESPACES.includes(pod.namespace)) {
        throw optInWithdrawn(`namespace ${pod.namespace} is never touched by tote`);
      }
      const signal = cancellationSignal();
      const ns = await mapFailures('read namespace', () => kube.getNamespace(pod.namespace, { signal }));
      if (ns?.annotations[ANNOTATIONS.allow] !== 'true') {
        throw optInWithdrawn(`namespace ${pod.namespace} no longer has ${ANNOTATIONS.allow}="true"`);
      }
      const meta = await mapFailures('read pod', () => kube.getPod(pod, { signal }));
      if (!meta || (pod.uid && meta.uid && meta.uid !== pod.uid)) {
        throw optInWithdrawn(`pod ${pod.namespace}/${pod.name} no longer exists`);
      }
      if (opts.requireWorkload === false) return;
      const opted = await mapFailures('read owners', () => workloadOptedIn(kube, pod.namespace, meta));
      if (!opted) {
        throw optInWithdrawn(
          `pod ${pod.namespace}/${pod.name} and its owners no longer carry ${ANNOTATIONS.autoSalvage}`,
        );
      }
    },
  };
}
