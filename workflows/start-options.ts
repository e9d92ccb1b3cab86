/**
 * Start options for tote's workflows, built in one place so every starter (controller, `tote salvage`, tests)
 * gets the same id, conflict policy, search attributes and Web UI summary. A second start for the same
 * (digest, node) joins the running workflow (USE_EXISTING): high availability without leader election.
 */
import type { WorkflowStartOptions } from '@temporalio/client';
import { cleanupWorkflowId, resolveWorkflowId, salvageWorkflowId, TASK_QUEUE } from '../common/names.js';
import type { cleanupCorruptImage } from './cleanup-corrupt-image.js';
import type { resolveImage, ResolveImageInput } from './resolve-image.js';
import type { salvageImage } from './salvage-image.js';
import { SA } from './search-attributes.js';
import type { CleanupInput, SalvageInput } from './types.js';

/** Search attributes every tote workflow starts with. */
function searchAttributes(input: { digest: string; node: string; pod: { namespace: string; name: string } }) {
  return [
    { key: SA.ImageDigest, value: input.digest },
    { key: SA.TargetNode, value: input.node },
    { key: SA.PodNamespace, value: input.pod.namespace },
    { key: SA.PodName, value: input.pod.name },
    { key: SA.SalvagePhase, value: 'Detecting' },
  ];
}

function details(input: SalvageInput | CleanupInput, extra: string[]): string {
  return [
    `**Image:** \`${input.imageRef}\``,
    `**Digest:** \`${input.digest}\``,
    `**Pod:** ${input.pod.namespace}/${input.pod.name}`,
    `**Target node:** ${input.node}`,
    ...extra,
  ].join('\n');
}

/** Options for `client.workflow.start(salvageImage, …)`; `taskQueue` defaults to {@link TASK_QUEUE}. */
export function salvageStartOptions(
  input: SalvageInput,
  taskQueue: string = TASK_QUEUE,
): WorkflowStartOptions<typeof salvageImage> {
  return {
    taskQueue,
    workflowId: salvageWorkflowId(input.digest, input.node),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [input],
    typedSearchAttributes: searchAttributes(input),
    staticSummary: `Salvage ${input.imageRef} onto ${input.node} for ${input.pod.namespace}/${input.pod.name} (${input.reason})`,
    staticDetails: details(input, [
      `**Container:** ${input.container ?? '-'}`,
      `**Reason:** ${input.reason}`,
    ]),
  };
}

/** Options for `client.workflow.start(cleanupCorruptImage, …)`. */
export function cleanupStartOptions(
  input: CleanupInput,
  taskQueue: string = TASK_QUEUE,
): WorkflowStartOptions<typeof cleanupCorruptImage> {
  return {
    taskQueue,
    workflowId: cleanupWorkflowId(input.digest, input.node),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [input],
    typedSearchAttributes: searchAttributes(input),
    staticSummary: `Clean corrupt ${input.imageRef} on ${input.node} for ${input.pod.namespace}/${input.pod.name}`,
    staticDetails: details(input, [`**Kubelet message:** ${input.message ?? '-'}`]),
  };
}

/**
 * Options for `client.workflow.start(resolveImage, …)`: one resolution per reference (USE_EXISTING), bounded by
 * an execution timeout so a controller waiting on it is never stuck when no worker runs.
 */
export function resolveStartOptions(
  input: ResolveImageInput,
  taskQueue: string = TASK_QUEUE,
): WorkflowStartOptions<typeof resolveImage> {
  return {
    taskQueue,
    workflowId: resolveWorkflowId(input.reference),
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowExecutionTimeout: '5m',
    args: [input],
    staticSummary: `Resolve the digest of ${input.reference} (agents${input.registryResolve ? ', then registry' : ''})`,
  };
}
