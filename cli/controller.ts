import type { Command } from 'commander';
import {
  ConfigError,
  CONTROLLER_FLAGS,
  parseControllerConfig,
  type ControllerFlag,
  type RawControllerFlags,
} from '../workers/controller-config.js';
import { UserError } from './errors.js';

const BOOLEAN_FLAGS: readonly ControllerFlag[] = [
  'enabled',
  'registryResolve',
  'registryResolveInsecure',
  'temporalTls',
  'jsonLog',
];

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * `tote controller`: watches Pods, Namespaces and Nodes and starts salvage workflows. Stateless: run any number of
 * replicas. Every flag falls back to its environment variable; a bad value exits 2 with a message naming the flag.
 */
export function registerController(program: Command): void {
  const cmd = program
    .command('controller')
    .description('Watch pods for image pull failures and start salvage workflows (any number of replicas).');
  for (const [key, f] of Object.entries(CONTROLLER_FLAGS) as [
    ControllerFlag,
    (typeof CONTROLLER_FLAGS)[ControllerFlag],
  ][]) {
    const arg = BOOLEAN_FLAGS.includes(key) ? ' [bool]' : ' <value>';
    const def = f.def === undefined ? '' : ` (default: ${f.def})`;
    cmd.option(`${f.flag}${arg}`, `${f.help}; env ${f.env}${def}`);
  }
  cmd.action(async (opts: RawControllerFlags) => {
    let cfg;
    try {
      cfg = parseControllerConfig(stripUndefined(opts), process.env);
    } catch (err) {
      if (err instanceof ConfigError) throw new UserError(err.message, 2);
      throw err;
    }
    // Loaded here, not at the top: other subcommands should not pay for the controller's clients.
    const { startController } = await import('../workers/controller.js');
    const controller = await startController(cfg);
    const code = await Promise.race([untilSignal().then(() => 0), controller.fatal]);
    await controller.stop();
    if (code !== 0) throw new UserError('the Kubernetes watch could not recover; see the log', code);
  });
}
