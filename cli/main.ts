import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands.js';
import { UserError } from './errors.js';

/** Builds the `tote` command tree. Each subcommand module adds itself in cli/commands.ts. */
export function buildProgram(): Command {
  const program = new Command('tote')
    .description(
      'Emergency image salvage for Kubernetes: moves cached images node to node when the registry is gone.',
    )
    .showHelpAfterError('(run "tote --help" for usage)')
    .exitOverride();
  registerCommands(program);
  return program;
}

/** Entry point: user errors print one clear line and exit 1; anything else is a bug and keeps its stack. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError) {
      process.stderr.write(`tote: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
