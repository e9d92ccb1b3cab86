/**
 * `tote doctor`'s Kubernetes checks: API access, the SalvageRecord CRD, the release's Deployments and DaemonSet,
 * and the namespaces that opted in. Readers fetch plain data; the checks themselves are pure functions of it.
 */
import { ANNOTATIONS, DENIED_NAMESPACES } from '../common/names.js';
import { errorLine, fail, pass, warn, type CheckResult } from './doctor-report.js';
import type { KubeHttp } from './kube-http.js';

/** The calls the checks make: {@link KubeHttp} has them. */
export type KubeReader = Pick<KubeHttp, 'server' | 'get' | 'post'>;

/** Name of the SalvageRecord CRD. */
export const CRD_NAME = 'salvagerecords.tote.dev';

/** What to do when the API server cannot be reached. */
export const KUBE_HINT =
  'check --kubeconfig (env TOTE_KUBECONFIG, then KUBECONFIG, ~/.kube/config); in a pod the ServiceAccount token is used';

/** Label that tells the chart's components apart. */
export const COMPONENT_LABEL = 'app.kubernetes.io/component';

function httpCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/** `kube-access`: the API server answers and accepts the credentials; also returns who we are. */
export async function checkKubeAccess(kube: KubeReader): Promise<{ result: CheckResult; user?: string }> {
  try {
    const v = await kube.get<{ gitVersion?: string }>('/version');
    const review = await kube
      .post<{ status?: { userInfo?: { username?: string } } }>(
        '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      )
      .catch(() => undefined); // older servers, or a role without it: the identity is a nicety
    const user = review?.status?.userInfo?.username;
    const as = user ? ` as ${user}` : '';
    return { result: pass('kube-access', `${kube.server} ${v?.gitVersion ?? ''}${as}`.trim()), user };
  } catch (err) {
    const code = httpCode(err);
    const hint =
      code === 401
        ? 'the API server rejected the credentials: refresh the kubeconfig or the ServiceAccount token'
        : KUBE_HINT;
    return { result: fail('kube-access', `${kube.server}: ${errorLine(err)}`, hint) };
  }
}

/** The parts of a CustomResourceDefinition the check reads. */
export interface Crd {
  spec?: { versions?: { name: string; served?: boolean }[] };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

const CRD_HINT = `helm installs charts/tote/crds on the first install only: kubectl apply -f charts/tote/crds/`;

async function crdFromDiscovery(kube: KubeReader): Promise<CheckResult> {
  // No read access to CRDs (rbac.create=false or an older chart): discovery lists a CRD once it is established.
  const api = await kube.get<{ resources?: { name: string }[] }>('/apis/tote.dev/v1alpha1');
  return api?.resources?.some((r) => r.name === 'salvagerecords')
    ? pass('crd', `${CRD_NAME} served (seen through discovery)`)
    : fail('crd', `${CRD_NAME} is not served`, CRD_HINT);
}

/** The `crd` row for the CRD object as read (null: not installed). */
export function crdResult(crd: Crd | null): CheckResult {
  if (!crd) return fail('crd', `${CRD_NAME} is not installed`, CRD_HINT);
  const conditions = crd.status?.conditions ?? [];
  const bad = ['NamesAccepted', 'Established']
    .map(
      (t) =>
        conditions.find((c) => c.type === t) ?? { type: t, status: 'Unknown', message: 'no condition yet' },
    )
    .find((c) => c.status !== 'True');
  if (bad) {
    return fail(
      'crd',
      `${CRD_NAME} is not ${bad.type}: ${bad.message ?? bad.status}`,
      `kubectl describe crd ${CRD_NAME}`,
    );
  }
  const versions = (crd.spec?.versions ?? []).filter((v) => v.served !== false).map((v) => v.name);
  return pass('crd', `${CRD_NAME} established (${versions.join(', ') || 'no versions'})`);
}

/** `crd`: salvagerecords.tote.dev exists and is Established (discovery when CRDs cannot be read). */
export async function checkCrd(kube: KubeReader): Promise<CheckResult> {
  try {
    return crdResult(
      await kube.get<Crd>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`),
    );
  } catch (err) {
    if (httpCode(err) !== 403) throw err;
    return crdFromDiscovery(kube);
  }
}

interface Meta {
  metadata?: { name?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
}

/** `namespaces`: which namespaces allow tote; none yet is a warning, not a failure. */
export async function checkNamespaces(kube: KubeReader): Promise<CheckResult> {
  const list = await kube.get<{ items?: Meta[] }>('/api/v1/namespaces');
  const allowed = (list?.items ?? [])
    .filter((n) => n.metadata?.annotations?.[ANNOTATIONS.allow] === 'true')
    .map((n) => n.metadata?.name ?? '')
    .filter((n) => n && !DENIED_NAMESPACES.includes(n))
    .sort();
  if (allowed.length === 0) {
    return warn(
      'namespaces',
      'no namespace has opted in: tote will not act anywhere',
      `kubectl annotate namespace <NAMESPACE> ${ANNOTATIONS.allow}=true`,
    );
  }
  const shown = allowed.slice(0, 8).join(', ') + (allowed.length > 8 ? ', …' : '');
  return pass('namespaces', `${allowed.length} opted in: ${shown}`);
}

/** A Deployment or DaemonSet as the checks need it. */
export interface Workload {
  kind: 'Deployment' | 'DaemonSet';
  name: string;
  component: string;
  desired: number;
  ready: number;
  /** The pods' ServiceAccount (for the RBAC check). */
  serviceAccount?: string;
}

/** The release's selector without its component term (`app.kubernetes.io/part-of=tote` when nothing is left). */
export function releaseSelector(agentSelector: string): string {
  const rest = agentSelector
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t && !t.startsWith(COMPONENT_LABEL));
  return rest.length ? rest.join(',') : 'app.kubernetes.io/part-of=tote';
}

interface AppsItem extends Meta {
  spec?: { replicas?: number; template?: { spec?: { serviceAccountName?: string } } };
  status?: { readyReplicas?: number; desiredNumberScheduled?: number; numberReady?: number };
}

function counts(kind: Workload['kind'], o: AppsItem): { desired: number; ready: number } {
  const st = o.status ?? {};
  return kind === 'Deployment'
    ? { desired: o.spec?.replicas ?? 1, ready: st.readyReplicas ?? 0 }
    : { desired: st.desiredNumberScheduled ?? 0, ready: st.numberReady ?? 0 };
}

function workload(kind: Workload['kind'], o: AppsItem): Workload {
  return {
    kind,
    name: o.metadata?.name ?? '',
    component: o.metadata?.labels?.[COMPONENT_LABEL] ?? '',
    ...counts(kind, o),
    serviceAccount: o.spec?.template?.spec?.serviceAccountName,
  };
}

/** The release's Deployments and DaemonSets in `namespace` (one list call each). */
export async function listWorkloads(
  kube: KubeReader,
  namespace: string,
  selector: string,
): Promise<Workload[]> {
  const q = { labelSelector: selector };
  const ns = encodeURIComponent(namespace);
  const [deps, dss] = await Promise.all([
    kube.get<{ items?: AppsItem[] }>(`/apis/apps/v1/namespaces/${ns}/deployments`, q),
    kube.get<{ items?: AppsItem[] }>(`/apis/apps/v1/namespaces/${ns}/daemonsets`, q),
  ]);
  return [
    ...(deps?.items ?? []).map((o) => workload('Deployment', o)),
    ...(dss?.items ?? []).map((o) => workload('DaemonSet', o)),
  ];
}

/** Where the release was looked for, for details and hints. */
export interface WorkloadScope {
  namespace: string;
  selector: string;
}

/**
 * `controller`, `worker` or `agents`: the component's Deployment (DaemonSet for agents) exists and all its
 * pods are ready. An agent missing on some node fails: that node can neither give nor receive an image.
 */
function missingWorkload(component: string, kind: string, s: WorkloadScope): CheckResult {
  const flag = component === 'agents' ? '--agent-endpoint-template' : `--${component}-url`;
  return fail(
    component,
    `no ${kind} labelled ${s.selector},${COMPONENT_LABEL} in namespace ${s.namespace}`,
    `install the chart (helm install tote charts/tote -n ${s.namespace}), or give --agent-namespace/--agent-selector; when tote runs outside Kubernetes, pass ${flag}`,
  );
}

export function workloadCheck(component: string, w: Workload | undefined, s: WorkloadScope): CheckResult {
  const kind = component === 'agents' ? 'DaemonSet' : 'Deployment';
  if (!w) return missingWorkload(component, kind, s);
  const ref = `${kind === 'DaemonSet' ? 'ds' : 'deploy'}/${w.name}`;
  const counts = `${ref}: ${w.ready}/${w.desired} ready`;
  const look = `kubectl -n ${s.namespace} describe ${ref}; kubectl -n ${s.namespace} get pods -l ${s.selector},${COMPONENT_LABEL}=${w.component} -o wide`;
  if (w.desired === 0) {
    const why = kind === 'DaemonSet' ? 'no node matches its nodeSelector/tolerations' : 'scaled to 0';
    return fail(component, `${ref}: ${why}`, look);
  }
  if (w.ready === 0 || (kind === 'DaemonSet' && w.ready < w.desired)) return fail(component, counts, look);
  if (w.ready < w.desired) return warn(component, counts, look);
  return pass(component, counts);
}
