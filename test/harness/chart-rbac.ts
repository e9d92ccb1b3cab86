import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApiextensionsV1Api, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { Kube } from './kube.js';
import { waitFor } from './ports.js';
import { repoRoot, toolPath } from './tools.js';

const execFileP = promisify(execFile);

/** The chart, relative to the repository root. */
export const CHART_DIR = path.join(repoRoot(), 'charts', 'tote');

/** Release name and namespace the sandbox installs the chart's identities under. */
export const RELEASE = { name: 'tote', namespace: 'tote-system' } as const;

/** Kubeconfigs of the chart's own ServiceAccounts, so tote's processes run with exactly what the chart grants. */
export interface ChartIdentities {
  controllerKubeconfig: string;
  workerKubeconfig: string;
}

async function render(showOnly: string[], values: string[]): Promise<KubernetesObject[]> {
  const args = ['template', RELEASE.name, CHART_DIR, '--namespace', RELEASE.namespace];
  for (const s of showOnly) args.push('--show-only', s);
  for (const v of values) args.push('--set', v);
  const { stdout } = await execFileP(toolPath('helm'), args, { maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => !!o?.kind);
}

/** Creates each object, or replaces it when it exists (so a re-run in the same apiserver converges). */
export async function applyObjects(kube: Kube, objs: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kube.kubeConfig());
  for (const o of objs) {
    try {
      await api.create(o);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      const existing = await api.read(o as KubernetesObject & { metadata: { name: string } });
      await api.replace({
        ...o,
        metadata: { ...o.metadata, resourceVersion: existing.metadata?.resourceVersion },
      });
    }
  }
}

/** The chart's CRDs (charts/tote/crds/*.yaml), as objects. */
export function chartCrds(): KubernetesObject[] {
  const dir = path.join(CHART_DIR, 'crds');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJS() as KubernetesObject),
    );
}

/**
 * Installs the chart's CRDs, namespace, ServiceAccounts and RBAC into the sandbox apiserver (rendered by `helm
 * template`, so tests use exactly what users install) and mints a kubeconfig for the controller and the worker.
 */
export async function installChartIdentities(kube: Kube, values: string[] = []): Promise<ChartIdentities> {
  await applyObjects(kube, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: RELEASE.namespace } }]);
  const crds = chartCrds();
  await applyObjects(kube, crds);
  const ext = kube.kubeConfig().makeApiClient(ApiextensionsV1Api);
  for (const crd of crds) {
    await waitFor(`CRD ${crd.metadata?.name} established`, async () => {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata?.name ?? '' });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    });
  }
  await applyObjects(kube, await render(['templates/serviceaccounts.yaml', 'templates/rbac.yaml'], values));
  const mint = (serviceAccount: string): Promise<string> =>
    kube.mintKubeconfig({ namespace: RELEASE.namespace, serviceAccount });
  return {
    controllerKubeconfig: await mint(`${RELEASE.name}-controller`),
    workerKubeconfig: await mint(`${RELEASE.name}-worker`),
  };
}
