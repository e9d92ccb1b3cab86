import { Command, CommanderError } from 'commander';
import { readBuildInfo, versionLine } from '../infra/build-info.js';
import { registerCommands } from './commands.js';
import { UserError } from './errors.js';

/** Builds the `tote` command tree for `argv`. Each subcommand module adds itself in cli/commands.ts. */
export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const program = new Command('tote')
    .description(
      'Emergency image salvage for Kubernetes: moves cached images node to node when the registry is gone.',
    )
    .version(versionLine(readBuildInfo()), '-V, --version', 'print the version of tote and exit')
    .showHelpAfterError('(run "tote --help" for usage)')
    .exitOverride();
  // `tote --version` loads no subcommand module: it answers at once, on any image, whatever else is broken.
  const args = argv.slice(2);
  if (args.length === 0 || !args.every((a) => a === '--version' || a === '-V'))
    await registerCommands(program, argv);
  return program;
}

/** Entry point: user errors print one clear line and exit 1; anything else is a bug and keeps its stack. */
export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
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
