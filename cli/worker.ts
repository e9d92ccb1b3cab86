/**
 * `tote worker`: the Temporal worker that runs tote's workflows and activities. Every flag falls back to its
 * `TOTE_*` environment variable; a bad value exits 2 with a message naming the flag. SIGTERM or SIGINT shuts
 * down gracefully (running activities finish or are handed back to Temporal).
 */
import type { Command } from 'commander';
import {
  envName,
  parseWorkerConfig,
  startWorker,
  WORKER_FLAGS,
  WorkerConfigError,
  type RawWorkerFlags,
  type WorkerFlag,
} from '../workers/worker.js';
import { UserError } from './errors.js';

const BOOLEAN_FLAGS: readonly WorkerFlag[] = [
  'insecurePlaintext',
  'registryResolve',
  'registryResolveInsecure',
  'pullPolicyRemedy',
  'backupRegistryInsecure',
  'scanRegistryInsecure',
  'temporalTls',
  'jsonLog',
];

function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Registers `tote worker`. */
export function registerWorker(program: Command): void {
  const cmd = program
    .command('worker')
    .description('Run salvage workflows and their activities (Temporal worker on the tote task queue).');
  for (const key of Object.keys(WORKER_FLAGS) as WorkerFlag[]) {
    const [flag, def, help] = WORKER_FLAGS[key];
    const arg = BOOLEAN_FLAGS.includes(key) ? ' [bool]' : ' <value>';
    cmd.option(
      `${flag}${arg}`,
      `${help}; env ${envName(key)}${def === undefined ? '' : ` (default: ${def})`}`,
    );
  }
  cmd.action(async (opts: RawWorkerFlags) => {
    let cfg;
    try {
      cfg = parseWorkerConfig(stripUndefined(opts), process.env);
    } catch (err) {
      if (err instanceof WorkerConfigError) throw new UserError(err.message, 2);
      throw err;
    }
    const worker = await startWorker(cfg);
    const failed = worker.done.then(
      () => 0,
      () => 1,
    );
    const code = await Promise.race([untilSignal().then(() => 0), failed]);
    await worker.stop();
    if (code !== 0) throw new UserError('the Temporal worker failed; see the log', code);
  });
}
