import { MockActivityEnvironment } from '@temporalio/testing';
import type { BlobRef, ExportPlan } from './deps.js';
import { fakeAgent, fakeDeps } from './fake-deps.js';
import { createPlanActivities, dedupPlan, type PlanTransferInput } from './plan.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const ROOT = d('a');
const CONFIG = d('b');
const BASE = d('c');
const APP = d('e');
const blobs: BlobRef[] = [
  { digest: ROOT, size: 500 },
  { digest: CONFIG, size: 1_000 },
  { digest: BASE, size: 40_000 },
  { digest: APP, size: 7_000 },
];
const exported: ExportPlan = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  blobs,
  totalBytes: 48_500,
  complete: true,
};
const input: PlanTransferInput = {
  digest: ROOT,
  source: { node: 'node-1', address: 'n1:9443' },
  target: { node: 'node-2', address: 'n2:9443' },
};

describe('dedupPlan', () => {
  test('given a target that holds the base layer, should move only the config and the app layer', () => {
    expect(dedupPlan(ROOT, blobs, new Set([BASE]))).toEqual({
      blobs: 4,
      totalBytes: 48_500,
      blobsPresent: 1,
      bytesPresent: 40_000,
      blobsToMove: 2,
      bytesToMove: 8_000,
    });
  });

  test('given an empty target, should never count the root manifest as streamed (it rides in the session answer)', () => {
    expect(dedupPlan(ROOT, blobs, new Set()).bytesToMove).toBe(48_000);
  });

  test('given a blob listed twice (shared by two manifests of an index), should count it once', () => {
    const twice = [...blobs, { digest: BASE, size: 40_000 }];
    expect(dedupPlan(ROOT, twice, new Set())).toMatchObject({
      blobs: 4,
      totalBytes: 48_500,
      bytesToMove: 48_000,
    });
  });
});

describe('planTransfer', () => {
  test('given an agent that lists present blobs, should ask about every blob and report an exact count', async () => {
    let asked: string[] = [];
    let session: { session: string; targetNode: string; ttlSeconds: number } | undefined;
    const deps = fakeDeps({
      agent: fakeAgent({
        prepareExport: async (_a, req) => ((session = req), exported),
        presentBlobs: async (agent, digests) => {
          expect(agent).toEqual(input.target);
          asked = digests;
          return [BASE, CONFIG];
        },
      }),
    });
    const plan = await new MockActivityEnvironment().run(createPlanActivities(deps).planTransfer, input);
    expect(asked).toEqual([ROOT, CONFIG, BASE, APP]);
    expect(session?.targetNode).toBe('node-2');
    expect(session?.session).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session?.ttlSeconds).toBeLessThanOrEqual(60);
    expect(plan).toEqual({
      source: 'node-1',
      blobs: 4,
      totalBytes: 48_500,
      blobsPresent: 2,
      bytesPresent: 41_000,
      blobsToMove: 1,
      bytesToMove: 7_000,
      dedup: 'exact',
      sourceComplete: true,
    });
  });

  test('given an agent without blob presence and a target without the image, should report an upper bound', async () => {
    const deps = fakeDeps({
      agent: fakeAgent({
        prepareExport: async () => exported,
        hasImage: async () => ({ present: false, complete: false, sizeBytes: 0 }),
      }),
    });
    const plan = await new MockActivityEnvironment().run(createPlanActivities(deps).planTransfer, input);
    expect(plan).toMatchObject({ dedup: 'upper-bound', blobsPresent: 0, bytesToMove: 48_000 });
  });

  test('given blob presence that fails (older agent), should fall back to HasImage', async () => {
    const deps = fakeDeps({
      agent: fakeAgent({
        prepareExport: async () => exported,
        presentBlobs: async () =>
          Promise.reject(Object.assign(new Error('unimplemented'), { code: 12, details: '' })),
        hasImage: async () => ({ present: true, complete: true, sizeBytes: 48_500 }),
      }),
    });
    const plan = await new MockActivityEnvironment().run(createPlanActivities(deps).planTransfer, input);
    expect(plan).toMatchObject({ dedup: 'exact', blobsPresent: 4, bytesToMove: 0 });
  });

  test('given a source that does not hold the image, should fail with the typed agent failure', async () => {
    const notFound = Object.assign(new Error('no image'), { code: 5, details: 'no image' });
    const deps = fakeDeps({ agent: fakeAgent({ prepareExport: async () => Promise.reject(notFound) }) });
    await expect(
      new MockActivityEnvironment().run(createPlanActivities(deps).planTransfer, input),
    ).rejects.toMatchObject({ type: 'AgentGrpc5' });
  });
});
