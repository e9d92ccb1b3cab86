import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every subcommand, loaded on demand: `tote agent` must not pay for the Temporal worker, the controller for the
 * kube client, and so on (each of these costs tens of MiB of resident memory on a node). A name maps to the
 * module that registers it; `approve` and `reject` share one.
 * MAINTENANCE: docs/cli-reference.md lists these commands.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  demo: async () => (await import('./demo.js')).registerDemo,
  agent: async () => (await import('./agent.js')).registerAgent,
  controller: async () => (await import('./controller.js')).registerController,
  worker: async () => (await import('./worker.js')).registerWorker,
  salvage: async () => (await import('./salvage.js')).registerSalvage,
  approve: async () => (await import('./approve.js')).registerApprove,
  reject: async () => (await import('./approve.js')).registerApprove,
  status: async () => (await import('./status.js')).registerStatus,
  doctor: async () => (await import('./doctor.js')).registerDoctor,
  scan: async () => (await import('./scan.js')).registerScan,
  'pull-policy': async () => (await import('./pull-policy.js')).registerPullPolicy,
};

/**
 * Registers the subcommand named in `argv` (only that one's modules are loaded), or all of them for help, an
 * unknown name, or no name.
 */
export async function registerCommands(program: Command, argv: string[] = process.argv): Promise<void> {
  const name = argv.slice(2).find((a) => !a.startsWith('-'));
  const loaders = name && COMMANDS[name] ? [COMMANDS[name]] : Object.values(COMMANDS);
  const registered = new Set<Register>();
  for (const load of loaders) {
    const register = await load();
    if (registered.has(register)) continue;
    registered.add(register);
    register(program);
  }
}
