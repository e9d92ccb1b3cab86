// CI gate: bundle the workflows exactly as the worker does. tsc cannot see a Node-only import that reaches
// workflow code transitively; webpack fails on it here instead of in a crash-looping worker (docs/conventions.md, module boundaries).
import { bundleWorkflowCode } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
if (!existsSync(workflowsPath)) {
  console.log('check-workflow-bundle: no workflows yet');
  process.exit(0);
}
const started = Date.now();
const { code } = await bundleWorkflowCode({
  workflowsPath,
  logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
});
console.log(`check-workflow-bundle: ok (${(code.length / 1e6).toFixed(2)} MB in ${Date.now() - started} ms)`);
