import { CoreV1Api } from '@kubernetes/client-node';
import { ctr, type ContainerdNode } from './containerd.js';
import type { Kube } from './kube.js';
import { waitFor } from './ports.js';

/** Task ids (containers with a running or stopped task) in a node's `k8s.io` namespace. */
async function taskIds(node: ContainerdNode): Promise<string[]> {
  const out = await ctr(node, ['tasks', 'ls']).catch(() => '');
  return out
    .split('\n')
    .slice(1)
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/**
 * Tears a real sandbox cluster down from the top, so no container outlives the run: stops the controller-manager
 * and scheduler (nothing recreates pods), deletes every pod at once, lets the kubelets stop their containers and
 * sandboxes (which also tears down the pod networks) for up to `waitMs`, then kills whatever task is left through
 * containerd itself, so every runc shim exits before its daemon does.
 */
export async function drainCluster(kube: Kube, nodes: ContainerdNode[], waitMs = 30_000): Promise<void> {
  await kube.stopControlPlane();
  const core = kube.kubeConfig().makeApiClient(CoreV1Api);
  const pods = await core.listPodForAllNamespaces().catch(() => ({ items: [] }));
  await Promise.all(
    pods.items.map((p) =>
      core
        .deleteNamespacedPod({
          name: p.metadata?.name ?? '',
          namespace: p.metadata?.namespace ?? '',
          gracePeriodSeconds: 0,
        })
        .catch(() => undefined),
    ),
  );
  await waitFor(
    'every pod task to stop',
    async () => (await Promise.all(nodes.map(taskIds))).every((ids) => ids.length === 0),
    { timeoutMs: waitMs, intervalMs: 500 },
  ).catch(() => undefined);
  for (const node of nodes) {
    for (const id of await taskIds(node)) {
      await ctr(node, ['tasks', 'kill', '--signal', 'SIGKILL', id]).catch(() => undefined);
      await ctr(node, ['tasks', 'delete', '--force', id]).catch(() => undefined);
    }
  }
}
