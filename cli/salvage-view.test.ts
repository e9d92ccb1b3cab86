import type { SalvagePlan, SalvageResult } from '../workflows/index.js';
import { makeStyle } from './output.js';
import type { SalvageTarget } from './salvage-target.js';
import {
  outcomeJson,
  planJson,
  renderOutcome,
  renderPlan,
  renderSkipped,
  succeeded,
  type SalvageOutcomeView,
} from './salvage-view.js';

const D = `sha256:${'d'.repeat(64)}`;
const st = makeStyle(false);
const target: SalvageTarget = {
  via: 'pod-image-id',
  input: {
    digest: D,
    imageRef: 'registry.gone/app:1.0',
    node: 'node-2',
    pod: { namespace: 'shop', name: 'web-1', uid: 'u' },
    container: 'app',
    reason: 'ImagePullBackOff',
    requestedBy: 'alice@host',
  },
};
const plan: SalvagePlan = {
  digest: D,
  targetNode: 'node-2',
  targetEndpoint: '127.0.0.12:9443',
  targetHasImage: false,
  sources: [
    { node: 'node-1', endpoint: '127.0.0.11:9443', complete: true, sizeBytes: 3 * 1024 * 1024, hinted: true },
  ],
  skipped: [{ node: 'node-3', complete: false, sizeBytes: 0, hinted: true }],
  policy: { mode: 'auto', maxImageSizeBytes: 0, approveTimeoutMs: 1, transferAttempts: 3, backup: false },
  transfer: {
    source: 'node-1',
    blobs: 4,
    totalBytes: 3 * 1024 * 1024,
    blobsPresent: 2,
    bytesPresent: 2 * 1024 * 1024,
    blobsToMove: 1,
    bytesToMove: 1024 * 1024,
    dedup: 'exact',
    sourceComplete: true,
  },
  problems: [],
};

describe('plan', () => {
  test('renderPlan shows digest origin, sources, dedup and the bytes to move', () => {
    const out = renderPlan({ target, plan }, st);
    expect(out).toContain('Plan for shop/web-1, container app (ImagePullBackOff)');
    expect(out).toContain(`Digest:        ${D} (from the pod's status imageID)`);
    expect(out).toContain('On the target: 2 blobs, 2.00 MiB already there (skipped)');
    expect(out).toContain('To move:       1 blobs, 1.00 MiB (1048576 bytes)\n');
    expect(out).toMatch(/node-1\s+127\.0\.0\.11:9443\s+complete\s+3\.00 MiB\s+listed/);
    expect(out).toMatch(/node-3\s+-\s+no agent\s+-\s+listed/);
    expect(out).toContain('Would go ahead.');
  });

  test('renderPlan says when the count is only an upper bound, and lists problems', () => {
    const p = {
      ...plan,
      transfer: { ...plan.transfer!, dedup: 'upper-bound' as const },
      problems: ['no ready tote agent on target node node-2'],
    };
    const out = renderPlan({ target, plan: p }, st);
    expect(out).toContain('On the target: unknown: its agent cannot list its blobs, so no dedup is assumed');
    expect(out).toContain('To move:       at most 1 blobs, 1.00 MiB (1048576 bytes)');
    expect(out).toContain('Would not go ahead:\n  - no ready tote agent on target node node-2\n');
  });

  test('renderPlan for a target that already has the image says nothing moves', () => {
    const { transfer: _t, ...rest } = plan;
    expect(renderPlan({ target, plan: { ...rest, targetHasImage: true } }, st)).toContain(
      'nothing: node-2 already holds the complete image',
    );
  });

  test('planJson carries the plan and what it was made for', () => {
    expect(planJson({ target, plan })).toMatchObject({
      pod: 'shop/web-1',
      container: 'app',
      image: 'registry.gone/app:1.0',
      digest: D,
      digestVia: 'pod-image-id',
      wouldProceed: true,
      transfer: { bytesToMove: 1024 * 1024 },
    });
  });
});

const result: SalvageResult = {
  outcome: 'salvaged',
  source: 'node-1',
  bytes: 3 * 1024 * 1024,
  record: 'rec',
  podRestarted: true,
  progress: {
    phase: 'Completed',
    bytesDone: 3 * 1024 * 1024,
    bytesTotal: 3 * 1024 * 1024,
    blobsCommitted: 4,
    blobsTotal: 4,
    attempts: 1,
    sourcesTried: ['node-1'],
    holders: ['node-1'],
  },
};
const view: SalvageOutcomeView = {
  input: target.input,
  workflowId: `salvage/${D}/node-2`,
  runId: 'r1',
  url: 'http://ui/x',
  result,
  durationMs: 2_500,
};

describe('outcome', () => {
  test('renderOutcome of a salvage shows source, size, duration, pod, workflow and link', () => {
    const out = renderOutcome(view, st);
    expect(out.split('\n')[0]).toBe('✓ Salvaged shop/web-1 (app)');
    expect(out).toContain('Source:     node-1');
    expect(out).toContain('Image size: 3.00 MiB (4 blobs)');
    expect(out).toContain('Duration:   2.5s');
    expect(out).toContain('Pod:        deleted: its controller recreates it now');
    expect(out).toContain(`Workflow:   salvage/${D}/node-2`);
    expect(out).toContain('Web UI:     http://ui/x');
    expect(succeeded(view)).toBe(true);
  });

  test('renderOutcome of a failure shows the error', () => {
    const failed: SalvageOutcomeView = {
      ...view,
      result: undefined,
      error: 'every source failed: node-1: boom',
    };
    const out = renderOutcome(failed, st);
    expect(out.split('\n')[0]).toBe('✗ Failed shop/web-1 (app)');
    expect(out).toContain('Error:    every source failed: node-1: boom');
    expect(succeeded(failed)).toBe(false);
  });

  test('a rejected salvage is not a success', () => {
    const rejected = { ...view, result: { ...result, outcome: 'rejected' as const } };
    expect(succeeded(rejected)).toBe(false);
    expect(renderOutcome(rejected, st)).toContain('Rejected by an operator: nothing was moved');
  });

  test('outcomeJson is flat and says ok', () => {
    expect(outcomeJson(view)).toMatchObject({
      pod: 'shop/web-1',
      node: 'node-2',
      digest: D,
      ok: true,
      outcome: 'salvaged',
      source: 'node-1',
      bytes: 3 * 1024 * 1024,
      durationMs: 2_500,
      workflowId: `salvage/${D}/node-2`,
    });
  });

  test('renderSkipped says why', () => {
    expect(renderSkipped([{ container: 'x', reason: 'CreateContainerError', why: 'corrupt' }], st)).toBe(
      'skipped container x (CreateContainerError): corrupt\n',
    );
  });
});
