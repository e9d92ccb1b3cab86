import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/**
 * The repository root (where tote's package.json is), found from this module's location, so the harness works
 * from any working directory and from both the sources and the compiled `dist/`.
 */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'charts', 'tote')))
      return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the tote repository root above the harness');
    dir = up;
  }
}
