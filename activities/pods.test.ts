import { MockActivityEnvironment } from '@temporalio/testing';
import { fakeDeps, fakeKube } from './fake-deps.js';
import type { ObjectMeta } from './deps.js';
import type { PodRef } from './types.js';
import { createPodActivities } from './pods.js';

const owned: ObjectMeta = {
  uid: 'u1',
  annotations: {},
  ownerReferences: [{ kind: 'ReplicaSet', name: 'rs', controller: true }],
};

async function restart(meta: ObjectMeta | null, pod: PodRef = { namespace: 'a', name: 'p', uid: 'u1' }) {
  const deletes: PodRef[] = [];
  const deps = fakeDeps({
    kube: fakeKube({ getPod: async () => meta, deletePod: async (p) => (deletes.push(p), true) }),
  });
  const r = await new MockActivityEnvironment().run(createPodActivities(deps).deleteOwnedPod, { pod });
  return { r, deletes };
}

describe('deleteOwnedPod', () => {
  test('given an owned pod, should delete it preconditioned on its uid', async () => {
    const { r, deletes } = await restart(owned, { namespace: 'a', name: 'p' });
    expect(r).toEqual({ deleted: true });
    expect(deletes).toEqual([{ namespace: 'a', name: 'p', uid: 'u1' }]);
  });

  test('given an unowned pod, should leave it alone', async () => {
    const { r, deletes } = await restart({ ...owned, ownerReferences: [] });
    expect(r).toEqual({ deleted: false, reason: 'unowned' });
    expect(deletes).toEqual([]);
  });

  test('given a replacement pod with the same name, should leave it alone', async () => {
    const { r, deletes } = await restart({ ...owned, uid: 'u2' });
    expect(r).toEqual({ deleted: false, reason: 'replaced' });
    expect(deletes).toEqual([]);
  });

  test('given a container pulling with Always, should not delete and should name the top workload', async () => {
    const deletes: PodRef[] = [];
    const deps = fakeDeps({
      kube: fakeKube({
        getPod: async () => owned,
        getOwner: async (_ns, o) =>
          o.kind === 'ReplicaSet'
            ? { annotations: {}, ownerReferences: [{ kind: 'Deployment', name: 'web', controller: true }] }
            : { annotations: {}, ownerReferences: [] },
        deletePod: async (p) => (deletes.push(p), true),
      }),
    });
    const r = await new MockActivityEnvironment().run(createPodActivities(deps).deleteOwnedPod, {
      pod: { namespace: 'a', name: 'p', uid: 'u1' },
      pullPolicy: 'Always',
    });
    expect(r).toEqual({
      deleted: false,
      reason: 'pull-policy-always',
      workload: { kind: 'Deployment', name: 'web' },
    });
    expect(deletes).toEqual([]);
  });

  test('given the pod gone, should report it', async () => {
    expect((await restart(null)).r).toEqual({ deleted: false, reason: 'gone' });
  });
});
