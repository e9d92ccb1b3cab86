#!/usr/bin/env node
// The `tote` command. Runs the compiled CLI; `npm run build` (or `make build`) produces it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    'tote: not built yet; run "make build" (or "npm run build") in the repository first\n',
  );
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
