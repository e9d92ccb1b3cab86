import {
  checkSearchAttributes,
  checkTaskQueue,
  connectionProbe,
  temporalChecks,
  temporalHint,
  type ServiceConnection,
  type TemporalProbe,
} from './doctor-temporal.js';

const scope = { address: 'temporal:7233', namespace: 'tote', taskQueue: 'tote' };
const ALL = { ImageDigest: 2, TargetNode: 2, PodNamespace: 2, PodName: 2, SalvagePhase: 2 };

function connection(
  over: Partial<{ pollers: number; attrs: Record<string, number> }> = {},
): ServiceConnection & {
  close(): Promise<void>;
  closed: boolean;
  requests: unknown[];
} {
  const requests: unknown[] = [];
  const c = {
    closed: false,
    requests,
    close: async () => void (c.closed = true),
    workflowService: {
      describeNamespace: async () => ({}),
      describeTaskQueue: async (req: unknown) => {
        requests.push(req);
        const n = over.pollers ?? 1;
        return {
          pollers: Array.from({ length: n }, () => ({
            identity: '1@worker-0',
            lastAccessTime: { seconds: 1700000000 },
          })),
        };
      },
    },
    operatorService: { listSearchAttributes: async () => ({ customAttributes: over.attrs ?? ALL }) },
  };
  return c;
}

test('connectionProbe should ask for workflow and activity pollers of the normal task queue', async () => {
  const c = connection();
  const probe = connectionProbe(c, scope);
  expect(await probe.pollers('activity')).toEqual([
    { identity: '1@worker-0', lastAccess: new Date(1700000000_000) },
  ]);
  expect(c.requests).toEqual([{ namespace: 'tote', taskQueue: { name: 'tote', kind: 1 }, taskQueueType: 2 }]);
  expect(await probe.searchAttributes()).toMatchObject({ ImageDigest: 'Keyword' });
});

test('given a healthy Temporal, temporalChecks should pass three rows and close the connection', async () => {
  const c = connection();
  const rows = await temporalChecks({ scope, connect: async () => c, timeoutMs: 5000 });
  expect(rows.map((r) => [r.name, r.status])).toEqual([
    ['temporal', 'pass'],
    ['task-queue', 'pass'],
    ['search-attributes', 'pass'],
  ]);
  expect(c.closed).toBe(true);
});

test('given no pollers, task-queue should fail and say which kind is missing', async () => {
  const probe = connectionProbe(connection({ pollers: 0 }), scope);
  const r = await checkTaskQueue(probe, scope);
  expect(r).toMatchObject({
    ok: false,
    detail: 'nobody polls workflow and activity tasks on task queue "tote" in namespace tote',
  });
  expect(r.hint).toContain('--task-queue');
});

test('given missing and mistyped attributes, should fail with the create command for the missing ones', async () => {
  const probe: TemporalProbe = {
    describeNamespace: async () => undefined,
    pollers: async () => [],
    searchAttributes: async () => ({ ImageDigest: 'Keyword', TargetNode: 'Text', PodName: 'Keyword' }),
  };
  const r = await checkSearchAttributes(probe, scope);
  expect(r.detail).toBe('missing: PodNamespace, SalvagePhase; TargetNode is Text, not Keyword');
  expect(r.hint).toContain(
    'temporal operator search-attribute create --namespace tote --name PodNamespace --name SalvagePhase --type Keyword',
  );
});

test('given an unreachable or unknown namespace, temporal should fail alone with a matching hint', async () => {
  const unreachable = await temporalChecks({
    scope,
    connect: () => Promise.reject(new Error('Failed to connect before the deadline')),
    timeoutMs: 5000,
  });
  expect(unreachable).toEqual([
    expect.objectContaining({
      name: 'temporal',
      ok: false,
      hint: expect.stringContaining('--temporal-address'),
    }),
  ]);
  expect(
    temporalHint(Object.assign(new Error('Namespace tote is not found.'), { code: 5 }), scope),
  ).toContain('temporal operator namespace create --namespace tote');
  expect(temporalHint({ code: 16 }, scope)).toContain('credentials');
  expect(temporalHint(undefined, scope)).toContain('--temporal-address');
});

test('given a connection that hangs, temporal should fail at the deadline', async () => {
  const rows = await temporalChecks({ scope, connect: () => new Promise(() => undefined), timeoutMs: 30 });
  expect(rows).toEqual([
    expect.objectContaining({ name: 'temporal', detail: 'temporal:7233: no answer within 0s' }),
  ]);
});
