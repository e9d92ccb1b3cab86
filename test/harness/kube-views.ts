import { CoreV1Api, CustomObjectsApi, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';

/* Read-only views of what tote leaves in the cluster, shared by the e2e tests and the fault suite. */

/** A SalvageRecord as the suite reads it. */
export interface RecordView {
  name: string;
  spec: Record<string, string>;
  status: Record<string, unknown>;
}

/** SalvageRecords (tote.dev/v1alpha1) in `namespace`. */
export async function salvageRecords(kc: KubeConfig, namespace: string): Promise<RecordView[]> {
  const list = (await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
    group: 'tote.dev',
    version: 'v1alpha1',
    namespace,
    plural: 'salvagerecords',
  })) as {
    items: { metadata: { name: string }; spec: Record<string, string>; status?: Record<string, unknown> }[];
  };
  return list.items.map((i) => ({ name: i.metadata.name, spec: i.spec, status: i.status ?? {} }));
}

/** One event on a pod. */
export interface EventView {
  reason: string;
  type: string;
  note: string;
  /** Who wrote it: `reportingController` (tote's are `tote.dev/...`), or the old `source.component` (kubelet). */
  controller: string;
}

/** True for an event that tote wrote (not kubelet's or the scheduler's). */
export function isToteEvent(e: EventView): boolean {
  return e.controller.startsWith('tote.dev');
}

/** Events about pod `name`, oldest first. */
export async function podEvents(kc: KubeConfig, namespace: string, name: string): Promise<EventView[]> {
  const list = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace });
  return list.items
    .filter((e) => e.regarding?.name === name)
    .sort((a, b) => new Date(a.eventTime ?? 0).getTime() - new Date(b.eventTime ?? 0).getTime())
    .map((e) => ({
      reason: e.reason ?? '',
      type: e.type ?? '',
      note: e.note ?? '',
      controller: e.reportingController || e.deprecatedSource?.component || '',
    }));
}

/** True once the pod no longer exists. */
export async function podGone(kc: KubeConfig, namespace: string, name: string): Promise<boolean> {
  try {
    await kc.makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
    return false;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return true;
    throw err;
  }
}
