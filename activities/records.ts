/**
 * SalvageRecords (tote.dev/v1alpha1): the durable, kubectl-visible trace of each salvage, and their reaping.
 * The record name is derived from the workflow run, so a retried activity (or a replayed workflow) finds the
 * record it already wrote instead of writing a second one.
 */
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import type { ActivityDeps, SalvageRecordObject } from './deps.js';
import { mapFailures } from './failures.js';
import type { SalvageRecordInput } from './types.js';

/** DNS-1123 subdomain limit for object names. */
const MAX_NAME = 253;

/** Lowercases and replaces what a DNS-1123 name cannot hold. */
function dnsSafe(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
}

/** The record's name: digest prefix, target node and run id prefix; stable across retries and replays. */
export function salvageRecordName(digest: string, node: string, runId: string): string {
  const hex = digest.replace(/^sha256:/, '').slice(0, 12);
  const run = dnsSafe(runId).replace(/\./g, '').slice(0, 8);
  const nodePart = dnsSafe(node).slice(0, MAX_NAME - hex.length - run.length - 10);
  return dnsSafe(`salvage-${hex}-${nodePart}-${run}`);
}

/** The SalvageRecord object for a completed salvage. */
export function salvageRecordObject(input: SalvageRecordInput, completedAt: string): SalvageRecordObject {
  return {
    namespace: input.pod.namespace,
    name: salvageRecordName(input.digest, input.targetNode, input.runId),
    labels: {
      'app.kubernetes.io/managed-by': 'tote',
      'tote.dev/target-node': dnsSafe(input.targetNode).slice(0, 63),
    },
    spec: {
      digest: input.digest,
      imageRef: input.imageRef,
      podName: input.pod.name,
      sourceNode: input.sourceNode,
      targetNode: input.targetNode,
      workflowId: input.workflowId,
    },
    status: {
      phase: 'Completed',
      sourceNode: input.sourceNode,
      targetNode: input.targetNode,
      digest: input.digest,
      bytes: input.bytes,
      durationSeconds: Math.round(input.durationMs) / 1000,
      workflowId: input.workflowId,
      completedAt,
      ...(input.pullPolicyChange ? { pullPolicyChange: { ...input.pullPolicyChange } } : {}),
    },
  };
}

/** Builds the record activities. */
export function createRecordActivities(deps: ActivityDeps): {
  writeSalvageRecord(input: SalvageRecordInput): Promise<{ name: string; created: boolean }>;
  reapExpiredRecords(input: { ttlSeconds?: number }): Promise<{ deleted: number; kept: number }>;
} {
  return {
    /** Creates the record (or finds the one a previous attempt created) and sets its status. */
    async writeSalvageRecord(input: SalvageRecordInput): Promise<{ name: string; created: boolean }> {
      const obj = salvageRecordObject(input, deps.clock.now().toISOString());
      const created = await mapFailures('write SalvageRecord', () =>
        deps.kube.createSalvageRecord(obj, { signal: cancellationSignal() }),
      );
      return { name: obj.name, created };
    },

    /** Deletes records older than the TTL (`--salvagerecord-ttl`, or the schedule's argument). */
    async reapExpiredRecords(input: { ttlSeconds?: number }): Promise<{ deleted: number; kept: number }> {
      const ttlMs = (input.ttlSeconds ?? deps.config.salvageRecordTtlSeconds) * 1000;
      const cutoff = deps.clock.now().getTime() - ttlMs;
      const signal = cancellationSignal();
      const all = await mapFailures('list SalvageRecords', () => deps.kube.listSalvageRecords({ signal }));
      let deleted = 0;
      for (const r of all.filter((x) => Date.parse(x.createdAt) < cutoff)) {
        await mapFailures(`delete SalvageRecord ${r.namespace}/${r.name}`, () =>
          deps.kube.deleteSalvageRecord(r.namespace, r.name, { signal }),
        );
        deleted++;
        heartbeat({ deleted });
      }
      return { deleted, kept: all.length - deleted };
    },
  };
}
