import type { WorkflowExecutionInfo } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { SA } from '../workflows/search-attributes.js';
import { UserError } from './errors.js';
import { makeStyle } from './output.js';
import {
  parseCount,
  parseDuration,
  renderStatus,
  sortRows,
  toRow,
  visibilityQuery,
  type StatusRow,
} from './status.js';

describe('arguments', () => {
  test.each([
    ['200ms', 200],
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
  ])('parseDuration(%s)', (v, ms) => expect(parseDuration('--since', v)).toBe(ms));

  test.each(['', '0h', '1w', '-1h', '1.5h', 'h'])('parseDuration refuses %p naming the flag', (v) => {
    expect(() => parseDuration('--since', v)).toThrow(UserError);
    expect(() => parseDuration('--since', v)).toThrow(/^--since: invalid value/);
  });

  test('parseCount bounds the value', () => {
    expect(parseCount('--limit', '50', 1000)).toBe(50);
    expect(() => parseCount('--limit', '0', 1000)).toThrow(
      '--limit: invalid value "0"; expected an integer from 1 to 1000',
    );
    expect(() => parseCount('--limit', '1001', 1000)).toThrow(UserError);
  });
});

describe('visibilityQuery', () => {
  const since = new Date('2026-01-01T00:00:00.000Z');
  test('given the defaults, should list tote workflows running or started since', () => {
    expect(visibilityQuery({ since, runningOnly: false })).toBe(
      "WorkflowType IN ('salvageImage', 'cleanupCorruptImage') AND (ExecutionStatus = 'Running' OR StartTime > '2026-01-01T00:00:00.000Z')",
    );
  });
  test('given filters, should add the search attributes', () => {
    expect(
      visibilityQuery({
        since,
        runningOnly: true,
        pod: { namespace: 'shop', name: 'web-1' },
        node: 'node-2',
      }),
    ).toBe(
      "WorkflowType IN ('salvageImage', 'cleanupCorruptImage') AND ExecutionStatus = 'Running' AND PodNamespace = 'shop' AND PodName = 'web-1' AND TargetNode = 'node-2'",
    );
  });
  test('given a quote in a value, should escape it', () => {
    expect(visibilityQuery({ since, runningOnly: true, node: "a'b" })).toContain("TargetNode = 'a\\'b'");
  });
});

function info(
  over: Partial<WorkflowExecutionInfo>,
  sa: Array<[keyof typeof SA, string]>,
): WorkflowExecutionInfo {
  return {
    workflowId: 'salvage/sha256:ab/node-2',
    runId: 'r1',
    type: 'salvageImage',
    status: { code: 1, name: 'RUNNING' },
    startTime: new Date('2026-01-01T11:58:00Z'),
    typedSearchAttributes: new TypedSearchAttributes(sa.map(([k, value]) => ({ key: SA[k], value }))),
    ...over,
  } as WorkflowExecutionInfo;
}

describe('rows', () => {
  const running = toRow(
    info({}, [
      ['SalvagePhase', 'AwaitingApproval'],
      ['PodNamespace', 'shop'],
      ['PodName', 'web-1'],
      ['TargetNode', 'node-2'],
      ['ImageDigest', 'sha256:ab'],
    ]),
    { namespace: 'default', uiUrl: 'http://ui' },
  );
  const done = toRow(
    info(
      {
        workflowId: 'salvage/sha256:cd/node-3',
        status: { code: 2, name: 'COMPLETED' },
        startTime: new Date('2026-01-01T11:59:00Z'),
        closeTime: new Date('2026-01-01T11:59:30Z'),
      },
      [['SalvagePhase', 'Completed']],
    ),
    { namespace: 'default' },
  );

  test('toRow reads the search attributes and links the run', () => {
    expect(running).toEqual({
      workflowId: 'salvage/sha256:ab/node-2',
      runId: 'r1',
      type: 'salvageImage',
      status: 'RUNNING',
      phase: 'AwaitingApproval',
      podNamespace: 'shop',
      podName: 'web-1',
      node: 'node-2',
      digest: 'sha256:ab',
      startTime: '2026-01-01T11:58:00.000Z',
      url: 'http://ui/namespaces/default/workflows/salvage%2Fsha256%3Aab%2Fnode-2/r1/history',
    });
    expect(done).not.toHaveProperty('podName');
  });

  test('sortRows puts running salvages first, then the newest', () => {
    const older: StatusRow = { ...done, workflowId: 'old', startTime: '2025-12-31T00:00:00.000Z' };
    expect(sortRows([older, done, running]).map((r) => r.workflowId)).toEqual([
      running.workflowId,
      done.workflowId,
      'old',
    ]);
  });

  test('renderStatus prints the columns an operator needs, with dashes for unknowns', () => {
    const out = renderStatus([running, done], new Date('2026-01-01T12:00:00Z'), makeStyle(false));
    expect(out.split('\n')).toEqual([
      'WORKFLOW ID               PHASE             POD         NODE    STARTED  STATUS',
      'salvage/sha256:ab/node-2  AwaitingApproval  shop/web-1  node-2  2m ago   RUNNING',
      'salvage/sha256:cd/node-3  Completed         -           -       1m ago   COMPLETED',
      '',
    ]);
  });
});
