import { MockActivityEnvironment } from '@temporalio/testing';
import { fakeConfig, fakeDeps, fakeKube } from './fake-deps.js';
import type { ObjectMeta } from './deps.js';
import type { PodRef } from './types.js';
import { createPodActivities, type RestartResult } from './pods.js';

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

  describe('the pull-policy remedy', () => {
    const rs = { annotations: {}, ownerReferences: [{ kind: 'Deployment', name: 'web', controller: true }] };
    const input = {
      pod: { namespace: 'a', name: 'p', uid: 'u1' },
      pullPolicy: 'Always',
      container: 'app',
      containerList: 'containers' as const,
      workflowId: 'salvage/x/n',
    };

    const mark = (v?: string): Record<string, string> => (v ? { 'tote.dev/pull-policy-remedy': v } : {});

    async function remedy(o: { allowed: boolean; ns?: string; workload?: string }) {
      const patches: { kind: string; body: object }[] = [];
      const deletes: PodRef[] = [];
      const deps = fakeDeps({
        config: fakeConfig({ pullPolicyRemedy: o.allowed }),
        kube: fakeKube({
          getPod: async () => owned,
          getNamespace: async () => ({ annotations: mark(o.ns), ownerReferences: [] }),
          getOwner: async (_ns, ref) =>
            ref.kind === 'ReplicaSet' ? rs : { annotations: mark(o.workload), ownerReferences: [] },
          patchWorkload: async (_ns, w, body) => (patches.push({ kind: w.kind, body }), true),
          deletePod: async (p) => (deletes.push(p), true),
        }),
      });
      const r: RestartResult = await new MockActivityEnvironment().run(
        createPodActivities(deps).deleteOwnedPod,
        input,
      );
      return { r, patches, deletes };
    }

    test('given the worker allows it and the namespace opts in, should patch the Deployment and restart', async () => {
      const { r, patches, deletes } = await remedy({ allowed: true, ns: 'true' });
      expect(r.deleted).toBe(true);
      expect(r.pullPolicyChange).toEqual({
        workload: 'deployment/web',
        container: 'app',
        from: 'Always',
        to: 'IfNotPresent',
        revert: 'tote pull-policy revert -n a deployment/web',
      });
      expect(patches).toEqual([
        {
          kind: 'Deployment',
          body: {
            spec: { template: { spec: { containers: [{ name: 'app', imagePullPolicy: 'IfNotPresent' }] } } },
            metadata: {
              annotations: {
                'tote.dev/pull-policy-changed': JSON.stringify({
                  container: 'app',
                  list: 'containers',
                  from: 'Always',
                  workflowId: 'salvage/x/n',
                }),
              },
            },
          },
        },
      ]);
      expect(deletes).toHaveLength(1);
    });

    test.each([
      ['the worker does not allow it', { allowed: false, ns: 'true' }],
      ['nothing opts in', { allowed: true }],
      ['the workload says false over the namespace', { allowed: true, ns: 'true', workload: 'false' }],
      ['the value is junk', { allowed: true, ns: 'yes' }],
    ])('given %s, should patch nothing and delete nothing', async (_why, o) => {
      const { r, patches, deletes } = await remedy(o);
      expect(r).toEqual({
        deleted: false,
        reason: 'pull-policy-always',
        workload: { kind: 'Deployment', name: 'web' },
      });
      expect(patches).toEqual([]);
      expect(deletes).toEqual([]);
    });

    test('given only the workload opts in, should patch it', async () => {
      expect((await remedy({ allowed: true, workload: 'true' })).patches).toHaveLength(1);
    });
  });
});
