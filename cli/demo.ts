import type { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { startSandbox, type Sandbox } from '../test/harness/sandbox.js';
import { startToteStack, type ToteStack } from '../test/harness/stack.js';
import { toolPath } from '../test/harness/tools.js';
import {
  awaitDetection,
  breakPod,
  followTransfer,
  seedLostImage,
  verifyOutcome,
  type Stage,
} from './demo-story.js';
import { UserError } from './errors.js';
import { makeStyle, useColor } from './output.js';

/** Options of `tote demo`. */
interface DemoOptions {
  exit: boolean;
  layerMib: string;
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

function parseLayerMib(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new UserError(`--layer-mib must be an integer from 1 to 256, got "${raw}"`, 2);
  }
  return n;
}

function explore(sb: Sandbox, stack: ToteStack, workflowId: string): string {
  const kubectl = (() => {
    try {
      return toolPath('kubectl');
    } catch {
      return 'kubectl';
    }
  })();
  return [
    'Explore what happened:',
    `  ${toolPath('temporal')} workflow show --address ${sb.temporal.address} -w '${workflowId}'`,
    `  ${toolPath('temporal')} workflow list --address ${sb.temporal.address} --query 'PodNamespace="shop"'`,
    `  ${kubectl} --kubeconfig ${sb.kube.adminKubeconfigPath} get events -n shop`,
    `  ${kubectl} --kubeconfig ${sb.kube.adminKubeconfigPath} get salvagerecords -n shop`,
    `  curl -s ${stack.worker.metricsUrl} | grep ^tote_`,
    `  Temporal Web UI: ${sb.temporal.uiUrl ?? '(headless)'}`,
    `  Logs of every component: ${sb.run.logsDir}`,
  ].join('\n');
}

async function tell(st: Stage, stack: ToteStack, layerMib: number): Promise<boolean> {
  const img = await seedLostImage(st, layerMib);
  const pod = await breakPod(st, img);
  const handle = await awaitDetection(st, img, pod);
  const result = await followTransfer(st, handle);
  const ok = await verifyOutcome(st, img, result);
  st.out.write(`\n${explore(st.sb, stack, handle.workflowId)}\n`);
  return ok;
}

async function runDemo(opts: DemoOptions): Promise<void> {
  const layerMib = parseLayerMib(opts.layerMib);
  const style = makeStyle(useColor(process.stdout, process.env));
  process.stdout.write(
    'Starting the sandbox: Temporal (Web UI), kube-apiserver, 3 containerd nodes, a registry...\n',
  );
  const sb = await startSandbox({ label: 'demo', nodes: 3, ui: true });
  let connection: Connection | undefined;
  try {
    const stack = await startToteStack(sb, {
      workerArgs: [`--backup-registry=${sb.registry?.host ?? ''}/backup`, '--backup-registry-insecure'],
    });
    process.stdout.write(
      `Up in ${((Date.now() - sb.run.startedAt) / 1000).toFixed(1)} s:\n${sb.describe()}\n`,
    );
    process.stdout.write(
      'tote: controller, worker and one agent per node are running (mTLS between them).\n\n',
    );
    connection = await Connection.connect({ address: sb.temporal.address });
    const ok = await tell(
      { sb, client: new Client({ connection }), out: process.stdout, style },
      stack,
      layerMib,
    );
    if (!ok) throw new UserError('the demo salvage did not complete; see the logs above', 1);
    if (!opts.exit) {
      process.stdout.write('\nEverything keeps running. Press Ctrl-C to stop.\n');
      await untilInterrupted();
    }
  } finally {
    process.stdout.write('Stopping the sandbox...\n');
    await connection?.close().catch(() => undefined);
    await sb.stop();
  }
}

/** `tote demo`: the embedded sandbox on this machine, and one real salvage in it. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the embedded sandbox (Temporal with Web UI, kube-apiserver, 3 containerd nodes, a registry) with ' +
        "tote's controller, worker and agents, and watch one real salvage.",
    )
    .option('--exit', 'stop once the salvage has run, instead of waiting for Ctrl-C', false)
    .option('--layer-mib <n>', 'size of each of the demo image’s 4 layers, in MiB', '8')
    .addHelpText(
      'after',
      '\nExamples:\n  make demo             # set up, then run this\n  npx tote demo --exit  # run once and stop\n',
    )
    .action((opts: DemoOptions) => runDemo(opts));
}
