import { existsSync } from 'node:fs';
import path from 'node:path';

/** Where `hack/setup-tools.sh` links every tool. @default /var/cache/tote-tools/bin */
export function toolsBin(): string {
  return (
    process.env.TOTE_TOOLS_BIN ?? path.join(process.env.TOTE_TOOLS_CACHE ?? '/var/cache/tote-tools', 'bin')
  );
}

/** Absolute path of a tool installed by `hack/setup-tools.sh`; throws a message that says how to get it. */
export function toolPath(name: string): string {
  const p = path.join(toolsBin(), name);
  if (!existsSync(p)) {
    throw new Error(`tool "${name}" not found at ${p}: run "make setup" (bash hack/setup-tools.sh) first`);
  }
  return p;
}
