import { CONTROLLER_NEEDS, checkRbac, needLabel, WORKER_NEEDS, type Need } from './doctor-rbac.js';
import type { KubeReader } from './doctor-kube.js';

interface Review {
  kind: string;
  spec: {
    user?: string;
    resourceAttributes: { verb: string; group: string; resource: string; subresource?: string };
  };
}

/** An API server whose access reviews answer `allow(user, need)`; self reviews are for `self`. */
function reviewer(
  allow: (user: string, n: Need) => boolean,
  self = 'me',
): KubeReader & { reviews: Review[] } {
  const reviews: Review[] = [];
  return {
    reviews,
    server: 'https://kube.test',
    get: async () => null,
    post: async <T>(_path: string, body: unknown): Promise<T> => {
      const r = body as Review;
      reviews.push(r);
      const a = r.spec.resourceAttributes;
      const need: Need = [
        a.verb,
        a.group,
        a.resource,
        ...(a.subresource ? [a.subresource] : []),
      ] as unknown as Need;
      return { status: { allowed: allow(r.spec.user ?? self, need) } } as T;
    },
  };
}

const is = (n: Need, label: string): boolean => needLabel(n) === label;

test('needLabel should read like kubectl auth can-i', () => {
  expect(needLabel(['patch', 'tote.dev', 'salvagerecords', 'status'])).toBe(
    'patch salvagerecords/status.tote.dev',
  );
  expect(needLabel(['list', '', 'pods'])).toBe('list pods');
});

test('given the worker identity with every grant, should pass rbac/worker for that identity', async () => {
  const kube = reviewer((_u, n) => !is(n, 'create subjectaccessreviews.authorization.k8s.io'));
  const rows = await checkRbac(kube, [], 'system:serviceaccount:tote:tote-worker');
  expect(rows).toEqual([
    expect.objectContaining({
      name: 'rbac/worker',
      status: 'pass',
      detail: `system:serviceaccount:tote:tote-worker: all ${WORKER_NEEDS.length} permissions granted`,
    }),
  ]);
});

test('given a missing verb, should fail and name it with a hint about the chart', async () => {
  const kube = reviewer((_u, n) => !is(n, 'delete pods') && !n[2].includes('subjectaccessreviews'));
  const [row] = await checkRbac(kube, []);
  expect(row).toMatchObject({ ok: false, detail: 'this identity may not: delete pods' });
  expect(row?.hint).toContain('rbac.create=true');
});

test('given an admin, should check the worker and controller ServiceAccounts through SubjectAccessReviews', async () => {
  const ctl = 'system:serviceaccount:tote:tote-controller';
  const kube = reviewer((u, n) => u === 'me' || (u === ctl ? !is(n, 'watch nodes') : true));
  const rows = await checkRbac(kube, [
    { component: 'controller', namespace: 'tote', serviceAccount: 'tote-controller' },
    { component: 'worker', namespace: 'tote', serviceAccount: 'tote-worker' },
  ]);
  expect(rows.map((r) => [r.name, r.status])).toEqual([
    ['rbac/controller', 'fail'],
    ['rbac/worker', 'pass'],
  ]);
  expect(rows[0]?.detail).toBe('ServiceAccount tote/tote-controller may not: watch nodes');
  const sar = kube.reviews.filter((r) => r.kind === 'SubjectAccessReview');
  expect(sar).toHaveLength(CONTROLLER_NEEDS.length + WORKER_NEEDS.length);
});

test('given access reviews that fail, should report one failed row', async () => {
  const kube: KubeReader = {
    server: 'x',
    get: async () => null,
    post: async () => Promise.reject(new Error('HTTP 500')),
  };
  expect(await checkRbac(kube, [])).toEqual([
    expect.objectContaining({ name: 'rbac/worker', ok: false, detail: 'access reviews failed: HTTP 500' }),
  ]);
});
