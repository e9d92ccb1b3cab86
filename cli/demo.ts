import type { Command } from 'commander';
import { startSandbox } from '../test/harness/sandbox.js';
import { UserError } from './errors.js';

/** Options of `tote demo`. */
interface DemoOptions {
  exit: boolean;
  nodes: string;
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

async function runDemo(opts: DemoOptions): Promise<void> {
  const nodes = Number(opts.nodes);
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 8) {
    throw new UserError(`--nodes must be an integer from 2 to 8, got "${opts.nodes}"`);
  }
  process.stdout.write(`Starting the tote sandbox (${nodes} containerd nodes) on loopback...\n`);
  const sb = await startSandbox({ label: 'demo', nodes, ui: true });
  try {
    process.stdout.write(`Sandbox up in ${(sb.startupMs / 1000).toFixed(1)} s:\n${sb.describe()}\n`);
    if (!opts.exit) {
      process.stdout.write('\nPress Ctrl-C to stop everything.\n');
      await untilInterrupted();
    }
  } finally {
    process.stdout.write('Stopping the sandbox...\n');
    await sb.stop();
  }
}

/** `tote demo`: the embedded sandbox on this machine. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the embedded sandbox: Temporal (with Web UI), kube-apiserver, containerd nodes and a registry.',
    )
    .option('--exit', 'stop once everything has run, instead of waiting for Ctrl-C', false)
    .option('--nodes <n>', 'number of simulated nodes, each with its own containerd', '3')
    .addHelpText(
      'after',
      '\nExamples:\n  make demo            # set up, then run this\n  npx tote demo --exit # run once and stop\n',
    )
    .action((opts: DemoOptions) => runDemo(opts));
}
