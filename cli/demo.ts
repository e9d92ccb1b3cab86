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
  showRunning,
  verifyOutcome,
  type Stage,
} from './demo-story.js';
import { UserError } from './errors.js';
import { makeStyle, useColor, type OutStream } from './output.js';

/** Options of `tote demo`. */
interface DemoOptions {
  exit: boolean;
  layerMib: string;
}

/**
 * Why the demo should stop early: a signal (Ctrl-C, `kill`, a closed terminal) or a stdout that went away (the
 * reader of `tote demo | tee` or `| head` exited). Armed before the first daemon starts, so stopping never
 * depends on being able to print.
 */
class Interruption {
  reason?: string;
  readonly promise: Promise<string>;
  /** Aborted with the interruption, for loops inside the story. */
  readonly abort = new AbortController();
  private fire!: (reason: string) => void;
  private readonly onSignal = (sig: NodeJS.Signals): void => this.trigger(sig);
  private readonly onStdoutError = (err: NodeJS.ErrnoException): void => {
    this.trigger(err.code === 'EPIPE' ? 'stdout closed' : `stdout failed: ${err.message}`);
  };

  constructor() {
    this.promise = new Promise((resolve) => (this.fire = resolve));
    for (const sig of SIGNALS) process.on(sig, this.onSignal);
    process.stdout.on('error', this.onStdoutError);
  }

  trigger(reason: string): void {
    if (this.reason) return;
    this.reason = reason;
    this.abort.abort();
    this.fire(reason);
  }

  dispose(): void {
    for (const sig of SIGNALS) process.off(sig, this.onSignal);
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Writes to stdout unless it has gone away (then the text is dropped: the sandbox must still be stopped). */
function say(stop: Interruption, text: string): void {
  if (stop.reason === 'stdout closed' || process.stdout.destroyed) return;
  process.stdout.write(text);
}

/** Thrown into the story when the demo is interrupted. */
class Interrupted extends Error {}

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
    `  ${kubectl} --kubeconfig ${sb.kube.adminKubeconfigPath} get pods,events -n shop`,
    `  ${kubectl} --kubeconfig ${sb.kube.adminKubeconfigPath} logs -n shop deploy/web`,
    `  ${kubectl} --kubeconfig ${sb.kube.adminKubeconfigPath} get salvagerecords -n shop`,
    `  curl -s ${stack.worker.metricsUrl} | grep ^tote_`,
    `  Temporal Web UI: ${sb.temporal.uiUrl ?? '(headless)'}`,
    `  Logs of every component: ${sb.run.logsDir}`,
  ].join('\n');
}

async function tell(st: Stage, stack: ToteStack, layerMib: number): Promise<boolean> {
  const img = await seedLostImage(st, layerMib);
  const failure = await breakPod(st, img);
  const handle = await awaitDetection(st, img, failure.pod.metadata?.name ?? '');
  const result = await followTransfer(st, handle);
  const ok = (await verifyOutcome(st, img, result)) && (await showRunning(st, img, failure));
  st.out.write(`\n${explore(st.sb, stack, handle.workflowId)}\n`);
  return ok;
}

/** Resolves with `work`'s value, or rejects with {@link Interrupted} as soon as the demo is interrupted. */
async function unlessInterrupted<T>(stop: Interruption, work: Promise<T>): Promise<T> {
  work.catch(() => undefined); // once interrupted, what the abandoned work does next is nobody's error
  return Promise.race([
    work,
    stop.promise.then((reason): never => {
      throw new Interrupted(reason);
    }),
  ]);
}

async function runDemo(opts: DemoOptions): Promise<void> {
  const layerMib = parseLayerMib(opts.layerMib);
  const style = makeStyle(useColor(process.stdout, process.env));
  const stop = new Interruption();
  say(
    stop,
    'Starting the sandbox: Temporal (Web UI), kube-apiserver, controller-manager, scheduler, 3 nodes ' +
      '(kubelet + containerd each), a registry...\n',
  );
  // Not raced: a sandbox half started when the signal came must still be stopped, so wait for it first.
  const sb = await startSandbox({ label: 'demo', nodes: 3, ui: true, kubelets: true });
  let connection: Connection | undefined;
  try {
    const stack = await unlessInterrupted(
      stop,
      startToteStack(sb, {
        workerArgs: [`--backup-registry=${sb.registry?.host ?? ''}/backup`, '--backup-registry-insecure'],
      }),
    );
    say(stop, `Up in ${((Date.now() - sb.run.startedAt) / 1000).toFixed(1)} s:\n${sb.describe()}\n`);
    say(stop, 'tote: controller, worker and one agent per node are running (mTLS between them).\n\n');
    connection = await unlessInterrupted(stop, Connection.connect({ address: sb.temporal.address }));
    const out: OutStream = {
      write: (text: string) => say(stop, text),
      isTTY: process.stdout.isTTY,
      columns: process.stdout.columns,
    };
    const ok = await unlessInterrupted(
      stop,
      tell(
        { sb, client: new Client({ connection }), out, style, signal: stop.abort.signal },
        stack,
        layerMib,
      ),
    );
    if (!ok) throw new UserError('the demo salvage did not complete; see the logs above', 1);
    if (!opts.exit) {
      say(stop, '\nEverything keeps running. Press Ctrl-C to stop.\n');
      await stop.promise;
    }
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
  } finally {
    say(stop, `Stopping the sandbox${stop.reason ? ` (${stop.reason})` : ''}...\n`);
    // An interrupted story may still be polling Temporal: leave its connection to fail with the server, since
    // calls on a closed channel throw where nobody can catch them.
    if (!stop.reason) await connection?.close().catch(() => undefined);
    await sb.stop();
    stop.dispose();
  }
  if (stop.reason) {
    // Whatever the abandoned story still waits on ends with the process; the sandbox is already gone.
    setTimeout(() => process.exit(130), 2000).unref();
    // 130 is the shell's code for "ended by Ctrl-C"; a closed stdout is the same kind of ending.
    throw new UserError(`demo stopped (${stop.reason}); every process it started has been stopped`, 130);
  }
}

/** `tote demo`: the embedded sandbox on this machine, and one real salvage in it. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the embedded sandbox (Temporal with Web UI, a real small cluster of 3 kubelet + containerd nodes, a ' +
        'registry) with ' +
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
