/**
 * `imagePullPolicy: Always` (explicit, or the apiserver's default for a `:latest` or untagged image): kubelet asks
 * the registry before every container start, so an image salvaged onto the node cannot start the pod, and
 * deleting the pod only makes a replacement that fails the same way. tote then says so and gives the fix.
 */

/** The workload at the top of a pod's owner chain. */
export interface WorkloadRef {
  kind: string;
  name: string;
}

/** Where a container sits in its pod spec. */
export type ContainerList = 'containers' | 'initContainers' | 'ephemeralContainers';

/** The pod template's path inside each workload kind tote knows how to patch. */
const TEMPLATE_PATH: Record<string, string[]> = {
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** True for a pull policy under which a salvaged copy cannot start the container. */
export function pullPolicyBlocksSalvage(policy: string | undefined): boolean {
  return policy === 'Always';
}

/**
 * A strategic-merge patch that sets `container`'s pull policy in `workload`'s pod template, or undefined for a
 * kind without one (a bare pod's spec is immutable: it must be recreated).
 */
export function pullPolicyPatch(
  workload: WorkloadRef,
  container: string,
  list: ContainerList,
  policy: 'IfNotPresent' | 'Always',
): Record<string, unknown> | undefined {
  const path = TEMPLATE_PATH[workload.kind];
  if (!path || list === 'ephemeralContainers') return undefined;
  let doc: Record<string, unknown> = { [list]: [{ name: container, imagePullPolicy: policy }] };
  for (const key of [...path].reverse()) doc = { [key]: doc };
  return doc;
}

/** The command that puts back what `tote.dev/pull-policy-remedy` changed on `workload`. */
export function pullPolicyRevertCommand(namespace: string, workload: WorkloadRef): string {
  return `tote pull-policy revert -n ${namespace} ${workload.kind.toLowerCase()}/${workload.name}`;
}

/** The one command that fixes it, for the Warning event and the webhook. */
export function pullPolicyFix(
  namespace: string,
  workload: WorkloadRef | undefined,
  container: string,
  list: ContainerList = 'containers',
): string {
  const patch = workload ? pullPolicyPatch(workload, container, list, 'IfNotPresent') : undefined;
  if (!workload || !patch) {
    return `set imagePullPolicy: IfNotPresent on container ${container} in the pod's manifest and recreate the pod`;
  }
  return `kubectl -n ${namespace} patch ${workload.kind.toLowerCase()} ${workload.name} -p '${JSON.stringify(patch)}'`;
}
