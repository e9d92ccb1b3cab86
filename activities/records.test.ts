import { MockActivityEnvironment } from '@temporalio/testing';
import { fakeDeps, fakeKube } from './fake-deps.js';
import { createRecordActivities, salvageRecordName } from './records.js';
import type { SalvageRecordInput } from './types.js';

const DIGEST = `sha256:${'9f'.repeat(32)}`;
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const input: SalvageRecordInput = {
  workflowId: `salvage/${DIGEST}/node-a`,
  runId: '0198f1a2-3b4c-7d5e-8f90-123456789abc',
  pod: { namespace: 'shop', name: 'web-1' },
  imageRef: 'registry.gone/app:1',
  digest: DIGEST,
  sourceNode: 'node-b',
  targetNode: 'node-a',
  bytes: 1234,
  durationMs: 1500,
};

describe('salvageRecordName', () => {
  test('is stable, DNS-1123 valid and distinct per run', () => {
    const a = salvageRecordName(DIGEST, 'Node_A.example', 'run-1');
    expect(a).toBe(salvageRecordName(DIGEST, 'Node_A.example', 'run-1'));
    expect(a).toMatch(DNS1123);
    expect(a).not.toBe(salvageRecordName(DIGEST, 'Node_A.example', 'run-2'));
    expect(salvageRecordName(DIGEST, 'n'.repeat(400), 'r').length).toBeLessThanOrEqual(253);
  });
});

describe('writeSalvageRecord', () => {
  test('given a retried attempt, should leave exactly one record', async () => {
    const deps = fakeDeps();
    const write = createRecordActivities(deps).writeSalvageRecord;
    const first = await new MockActivityEnvironment().run(write, input);
    const second = (await new MockActivityEnvironment({ attempt: 2 }).run(write, input)) as {
      name: string;
      created: boolean;
    };
    expect(first).toEqual({ name: second.name, created: true });
    expect(second.created).toBe(false);
    const kube = deps.kube as ReturnType<typeof fakeKube>;
    expect(kube.records).toHaveLength(1);
    expect(kube.records[0]).toMatchObject({
      namespace: 'shop',
      spec: { digest: DIGEST, sourceNode: 'node-b', targetNode: 'node-a', workflowId: input.workflowId },
      status: {
        phase: 'Completed',
        bytes: 1234,
        durationSeconds: 1.5,
        completedAt: '2026-11-25T12:00:00.000Z',
      },
    });
  });
});

describe('reapExpiredRecords', () => {
  test('given records around the TTL, should delete only the older ones', async () => {
    const deleted: string[] = [];
    const deps = fakeDeps({
      kube: fakeKube({
        listSalvageRecords: async () => [
          { namespace: 'a', name: 'old', createdAt: '2026-11-25T10:59:59Z' },
          { namespace: 'a', name: 'new', createdAt: '2026-11-25T11:00:01Z' },
        ],
        deleteSalvageRecord: async (_ns, name) => (deleted.push(name), true),
      }),
    });
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const r = await env.run(createRecordActivities(deps).reapExpiredRecords, { ttlSeconds: 3600 });
    expect(r).toEqual({ deleted: 1, kept: 1 });
    expect(deleted).toEqual(['old']);
    expect(beats).toEqual([{ deleted: 1 }]);
  });
});
