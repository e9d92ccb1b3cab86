/**
 * `tote doctor`'s `versions` row: which build of tote each component runs, read from the `tote_build_info` gauge
 * on its /metrics (the port named `metrics` of each pod of the release), compared with doctor's own version. A
 * mismatch is a warning (a rolling upgrade shows one for a while), and so is a component without the gauge (a
 * build from before it); a component whose metrics cannot be read is listed as unknown without failing anything:
 * a NetworkPolicy may keep doctor from the metrics ports.
 */
import { buildVersionsIn } from './build-info.js';
import { COMPONENT_LABEL, type KubeReader } from './doctor-kube.js';
import { errorLine, pass, warn, type CheckResult } from './doctor-report.js';

/** One /metrics endpoint to read. */
export interface VersionTarget {
  /** `controller`, `worker` or `agent`. */
  component: string;
  /** The pod's name. */
  pod: string;
  url: string;
}

/** GETs a URL's body as text; rejects on an HTTP error. */
export type TextFetch = (url: string) => Promise<string>;

interface PodItem {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { containers?: { ports?: { name?: string; containerPort?: number }[] }[] };
  status?: { podIP?: string };
}

function metricsPort(p: PodItem): number | undefined {
  const ports = (p.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
  return ports.find((x) => x.name === 'metrics')?.containerPort;
}

function targetOf(p: PodItem): VersionTarget | undefined {
  const ip = p.status?.podIP;
  const port = metricsPort(p);
  if (!ip || !port) return undefined;
  return {
    component: p.metadata?.labels?.[COMPONENT_LABEL] ?? 'unknown',
    pod: p.metadata?.name ?? ip,
    url: `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}/metrics`,
  };
}

/** The release's pods that serve /metrics on a port named `metrics`, by component and name. */
export async function versionTargets(
  kube: KubeReader,
  scope: { namespace: string; selector: string },
): Promise<VersionTarget[]> {
  const path = `/api/v1/namespaces/${encodeURIComponent(scope.namespace)}/pods`;
  const list = await kube.get<{ items?: PodItem[] }>(path, { labelSelector: scope.selector });
  const targets = (list?.items ?? []).map(targetOf).filter((t): t is VersionTarget => t !== undefined);
  return targets.sort((a, b) => a.component.localeCompare(b.component) || a.pod.localeCompare(b.pod));
}

/** A {@link TextFetch} over fetch with a deadline. */
export function fetchText(timeoutMs: number): TextFetch {
  return async (url) => {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.text();
  };
}

async function versionOf(t: VersionTarget, get: TextFetch): Promise<string> {
  try {
    return buildVersionsIn(await get(t.url))[0] ?? 'older (no tote_build_info)';
  } catch (err) {
    return `unknown (${errorLine(err)})`;
  }
}

/** `controller ×2, agent/node-1`: how many pods of each component (or which pod, when one). */
function who(targets: VersionTarget[]): string {
  const by = new Map<string, VersionTarget[]>();
  for (const t of targets) by.set(t.component, [...(by.get(t.component) ?? []), t]);
  return [...by].map(([c, ts]) => (ts.length === 1 ? `${c}/${ts[0]?.pod}` : `${c} ×${ts.length}`)).join(', ');
}

/** `versions`: every component's version next to doctor's own; a warning when one differs. */
export async function checkVersions(
  targets: VersionTarget[],
  get: TextFetch,
  own: string,
): Promise<CheckResult> {
  if (targets.length === 0)
    return pass('versions', `doctor ${own}; no pod of the release exposes a port named metrics`);
  const versions = await Promise.all(targets.map((t) => versionOf(t, get)));
  const groups = new Map<string, VersionTarget[]>();
  targets.forEach((t, i) => {
    const v = versions[i] ?? 'unknown';
    groups.set(v, [...(groups.get(v) ?? []), t]);
  });
  const parts = [...groups].map(([v, ts]) => `${v}: ${who(ts)}`);
  const detail = `doctor ${own}; ${parts.join('; ')}`;
  const differ = [...groups.keys()].filter((v) => v !== own && !v.startsWith('unknown'));
  if (differ.length === 0) return pass('versions', detail);
  return warn(
    'versions',
    detail,
    `components run ${differ.join(', ')}, doctor runs ${own}: finish the upgrade (helm upgrade with one image tag for every component), or use the tote CLI of the release's version`,
  );
}
