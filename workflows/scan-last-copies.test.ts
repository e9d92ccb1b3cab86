import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { ToteActivities } from '../activities/index.js';
import type { ImageInUse, ScanInput, ScanReport } from '../common/last-copy.js';
import { captureSdkLogs, maybeRecordHistory } from '../test/replay/env.js';
import type { CallLog } from '../test/replay/stubs.js';
import { workflowTestKit } from '../test/replay/workflow-kit.js';
import { scanLastCopies } from './index.js';
import { scanStartOptions } from './scan-start-options.js';

const kit = workflowTestKit();

const GONE = `sha256:${'01'.repeat(32)}`;
const HERE = `sha256:${'02'.repeat(32)}`;
const SHARED = `sha256:${'03'.repeat(32)}`;

function image(key: string, digest: string, over: Partial<ImageInUse> = {}): ImageInUse {
  return {
    key,
    image: `reg.example/${key}:1`,
    name: `reg.example/${key}`,
    tag: '1',
    digest,
    pods: [{ namespace: 'shop', name: `${key}-pod`, uid: 'u', node: 'n1' }],
    podCount: 1,
    allowed: true,
    ...over,
  };
}

/** A cluster with one lost image on one node, one image still in its registry, one lost image on two nodes. */
function cluster(over: Partial<ToteActivities> = {}): Partial<ToteActivities> {
  return {
    listImagesInUse: async () => ({
      images: [image('gone', GONE), image('here', HERE), image('shared', SHARED)],
      backupRegistry: 'backup:5000',
    }),
    countImageHolders: async ({ images }) => ({
      images: images.map((i) => ({
        key: i.key,
        digest: i.digest ?? null,
        holders: i.key === 'shared' ? ['n1', 'n2'] : ['n1'],
      })),
      unreachable: ['n9'],
    }),
    checkRegistryCopies: async ({ images }) =>
      images.map((i) => ({ key: i.key, copy: i.key === 'here' ? ('present' as const) : ('gone' as const) })),
    ...over,
  };
}

async function run(
  name: string,
  input: ScanInput,
  over: Partial<ToteActivities>,
): Promise<{ report: ScanReport; log: CallLog }> {
  const workflowId = `scan/test-${randomUUID()}`;
  const { out: report, log } = await kit.withWorker(
    over,
    (taskQueue) =>
      kit.env.client.workflow.execute(scanLastCopies, scanStartOptions(input, { taskQueue, workflowId })),
    `test-scan-${name}`,
  );
  await maybeRecordHistory(`scan-${name}`, { address: kit.env.address, workflowId });
  return { report, log };
}

test('given a lost image on one node and backup allowed, should warn on its pod and push it from the holder', async () => {
  const { report, log } = await run('backup', { backup: true, minCopies: 1 }, cluster());
  expect(report.rows.map((r) => [r.image, r.registry, r.holders.length, r.atRisk, r.action])).toEqual([
    ['reg.example/gone:1', 'gone', 1, true, 'backed-up'],
    ['reg.example/shared:1', 'gone', 2, false, 'none'],
    ['reg.example/here:1', 'present', 1, false, 'none'],
  ]);
  expect(report.rows[0]?.backupRef).toBe('backup.local/app:1');
  expect(report).toMatchObject({ minCopies: 1, backupRegistry: 'backup:5000', unreachableNodes: ['n9'] });
  const warn = log.calls.find((c) => c.name === 'warnLastCopy')?.arg as {
    workflowId: string;
    holders: string[];
  };
  expect(warn).toMatchObject({ holders: ['n1'], workflowId: report.workflowId });
  const push = log.calls.filter((c) => c.name === 'pushBackup').map((c) => c.arg);
  expect(push).toEqual([{ digest: GONE, imageRef: 'reg.example/gone:1', node: 'n1' }]);
  expect(log.events()).toEqual(['ImagePushed']);
});

test('given --min-copies 2 and no backup, should warn on both lost images and push nothing', async () => {
  const { report, log } = await run('warn-only', { minCopies: 2 }, cluster());
  expect(report.rows.filter((r) => r.atRisk).map((r) => [r.image, r.action])).toEqual([
    ['reg.example/gone:1', 'warned'],
    ['reg.example/shared:1', 'warned'],
  ]);
  expect(log.names().filter((n) => n === 'warnLastCopy')).toHaveLength(2);
  expect(log.names()).not.toContain('pushBackup');
});

test('given a namespace that does not allow tote, should warn but not push, and say why', async () => {
  const { report, log } = await run(
    'not-allowed',
    { backup: true },
    cluster({
      listImagesInUse: async () => ({
        images: [image('gone', GONE, { allowed: false })],
        backupRegistry: 'b',
      }),
    }),
  );
  expect(report.rows[0]).toMatchObject({ action: 'warned', note: expect.stringContaining('tote.dev/allow') });
  expect(log.names()).not.toContain('pushBackup');
});

test('given every holder fails to push, should try each, report push-failed and emit ImagePushFailed', async () => {
  const {
    out: { report, log },
  } = await captureSdkLogs(() =>
    run(
      'push-failed',
      { backup: true, minCopies: 2 },
      cluster({
        pushBackup: async (i) => {
          throw ApplicationFailure.create({
            type: 'AgentGrpc14',
            message: `${i.node} down`,
            nonRetryable: true,
          });
        },
      }),
    ),
  );
  const shared = report.rows.find((r) => r.image === 'reg.example/shared:1');
  expect(shared).toMatchObject({ action: 'push-failed', note: expect.stringContaining('n2: n2 down') });
  const nodes = log.calls.filter((c) => c.name === 'pushBackup').map((c) => (c.arg as { node: string }).node);
  expect(nodes).toEqual(['n1', 'n1', 'n2']);
  expect(log.events()).toEqual(['ImagePushFailed', 'ImagePushFailed']);
});
