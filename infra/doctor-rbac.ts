/**
 * `tote doctor`'s RBAC check: asks the API server, verb by verb, whether the worker and the controller may do
 * what they do. From an identity allowed to create SubjectAccessReviews (an admin's kubeconfig) both
 * ServiceAccounts are checked; otherwise (inside the worker pod) the worker's needs are checked for the
 * identity doctor runs as, through SelfSubjectAccessReviews, which every authenticated user may create.
 * MAINTENANCE: these lists follow charts/tote/templates/rbac.yaml and the calls in infra/kube-client.ts and
 * controller/kube-sources.ts.
 */
import { errorLine, fail, pass, type CheckResult } from './doctor-report.js';
import type { KubeReader } from './doctor-kube.js';

/** One permission: verb, API group, resource and optional subresource. */
export type Need = readonly [verb: string, group: string, resource: string, subresource?: string];

const OWNERS: Need[] = [
  ['get', 'apps', 'replicasets'],
  ['get', 'apps', 'deployments'],
  ['get', 'apps', 'statefulsets'],
  ['get', 'apps', 'daemonsets'],
  ['get', 'batch', 'jobs'],
  ['get', 'batch', 'cronjobs'],
];

/** What the worker's activities call, cluster-wide. */
export const WORKER_NEEDS: readonly Need[] = [
  ['get', '', 'pods'],
  ['list', '', 'pods'],
  ['delete', '', 'pods'],
  ['list', '', 'nodes'],
  ['get', '', 'namespaces'],
  ...OWNERS,
  ['create', 'events.k8s.io', 'events'],
  ['create', 'tote.dev', 'salvagerecords'],
  ['list', 'tote.dev', 'salvagerecords'],
  ['delete', 'tote.dev', 'salvagerecords'],
  ['patch', 'tote.dev', 'salvagerecords', 'status'],
];

/** What the controller's watches and detection events need, cluster-wide. */
export const CONTROLLER_NEEDS: readonly Need[] = [
  ...['pods', 'namespaces', 'nodes'].flatMap((r): Need[] => [
    ['list', '', r],
    ['watch', '', r],
  ]),
  ...OWNERS,
  ['create', 'events.k8s.io', 'events'],
];

/** `verb group/resource[/sub]`, as kubectl auth can-i spells it. */
export function needLabel([verb, group, resource, sub]: Need): string {
  const res = `${resource}${sub ? `/${sub}` : ''}${group ? `.${group}` : ''}`;
  return `${verb} ${res}`;
}

/** A ServiceAccount whose grants are checked through SubjectAccessReviews. */
export interface Subject {
  /** Component it runs: `worker` or `controller`. */
  component: string;
  namespace: string;
  serviceAccount: string;
}

function attributes([verb, group, resource, subresource]: Need): object {
  return { verb, group, resource, ...(subresource ? { subresource } : {}) };
}

async function allowedSelf(kube: KubeReader, need: Need): Promise<boolean> {
  const res = await kube.post<{ status?: { allowed?: boolean } }>(
    '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: attributes(need) },
    },
  );
  return res.status?.allowed === true;
}

async function allowedFor(kube: KubeReader, s: Subject, need: Need): Promise<boolean> {
  const res = await kube.post<{ status?: { allowed?: boolean } }>(
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${s.namespace}:${s.serviceAccount}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${s.namespace}`, 'system:authenticated'],
        resourceAttributes: attributes(need),
      },
    },
  );
  return res.status?.allowed === true;
}

/** The row for one identity, from the needs it lacks. */
export function rbacResult(row: { name: string; who: string; total: number; missing: Need[] }): CheckResult {
  if (row.missing.length === 0) return pass(row.name, `${row.who}: all ${row.total} permissions granted`);
  return fail(
    row.name,
    `${row.who} may not: ${row.missing.map(needLabel).join(', ')}`,
    'install the chart with rbac.create=true (the default), or grant these in your own ClusterRole; compare with charts/tote/templates/rbac.yaml',
  );
}

async function missing(needs: readonly Need[], allowed: (n: Need) => Promise<boolean>): Promise<Need[]> {
  const ok = await Promise.all(needs.map(allowed));
  return needs.filter((_, i) => !ok[i]);
}

/**
 * `rbac/worker` and `rbac/controller` for `subjects` when SubjectAccessReviews are allowed, else `rbac/worker`
 * for the identity doctor runs as (`user`, when known).
 */
export async function checkRbac(
  kube: KubeReader,
  subjects: Subject[],
  user?: string,
): Promise<CheckResult[]> {
  try {
    const canReview = await allowedSelf(kube, ['create', 'authorization.k8s.io', 'subjectaccessreviews']);
    if (canReview && subjects.length > 0) {
      return await Promise.all(
        subjects.map(async (s) => {
          const needs = s.component === 'controller' ? CONTROLLER_NEEDS : WORKER_NEEDS;
          const lacks = await missing(needs, (n) => allowedFor(kube, s, n));
          const who = `ServiceAccount ${s.namespace}/${s.serviceAccount}`;
          return rbacResult({ name: `rbac/${s.component}`, who, total: needs.length, missing: lacks });
        }),
      );
    }
    const lacks = await missing(WORKER_NEEDS, (n) => allowedSelf(kube, n));
    const who = user ?? 'this identity';
    return [rbacResult({ name: 'rbac/worker', who, total: WORKER_NEEDS.length, missing: lacks })];
  } catch (err) {
    return [
      fail(
        'rbac/worker',
        `access reviews failed: ${errorLine(err)}`,
        'the API server must allow SelfSubjectAccessReviews (system:basic-user); check its authorization mode',
      ),
    ];
  }
}
