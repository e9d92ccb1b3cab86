// Determinism guard: every committed history (recorded by the workflow tests with TOTE_RECORD_HISTORIES=1) must
// replay against the current workflow code. A DeterminismViolationError here means a workflow changed shape in a
// way running executions cannot follow: gate the change with `patched()`, or record new histories on purpose.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJson } from './history-json.js';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { bundleWorkflows, HISTORIES_DIR, quietRuntime } from './env.js';

const files = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

test('there are recorded histories for every workflow type', () => {
  const types = new Set(
    files.map((f) => {
      const h = JSON.parse(readFileSync(path.join(HISTORIES_DIR, f), 'utf8')) as {
        events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[];
      };
      return h.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
    }),
  );
  expect([...types].sort()).toEqual(
    expect.arrayContaining(['cleanupCorruptImage', 'reapSalvageRecords', 'salvageImage']),
  );
});

test('every recorded history replays without nondeterminism', async () => {
  quietRuntime();
  const workflowBundle = await bundleWorkflows();
  const histories = files.map((f) => ({
    workflowId: f.replace(/\.json$/, ''),
    history: historyFromJson(JSON.parse(readFileSync(path.join(HISTORIES_DIR, f), 'utf8'))),
  }));
  const failures: string[] = [];
  for await (const r of Worker.runReplayHistories({ workflowBundle }, histories)) {
    if (r.error) failures.push(`${r.workflowId}: ${r.error.name}: ${r.error.message}`);
  }
  expect(failures).toEqual([]);
  expect(histories.length).toBe(files.length);
}, 120_000);

test('a history replayed against reordered workflow code fails (negative control)', async () => {
  quietRuntime();
  const { code } = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('./fixtures/reordered-workflows.ts', import.meta.url)),
    logger: new DefaultLogger('WARN'),
  });
  const history = historyFromJson(
    JSON.parse(readFileSync(path.join(HISTORIES_DIR, 'auto-happy.json'), 'utf8')),
  );
  await expect(Worker.runReplayHistory({ workflowBundle: { code } }, history)).rejects.toThrow(
    /[Nn]ondetermin/,
  );
}, 120_000);
