/**
 * What build of tote this process is: the version from package.json (the one file every install carries: the
 * image copies it next to dist/), an optional revision, and the Node.js version. `tote --version` prints it, every
 * process exports it as `tote_build_info{…} 1` (the Prometheus convention: the labels carry the data, the value
 * is always 1), and `tote doctor` reads that gauge back from the components it reaches.
 *
 * The revision is package.json's `gitHead` field when a packaging step wrote one; `npm run build` writes none,
 * and then the label reads `unknown`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The build of this process. */
export interface BuildInfo {
  /** package.json `version`, e.g. `0.1.0`; `unknown` when package.json cannot be found. */
  version: string;
  /** Git commit the package was built from, or `unknown`. */
  revision: string;
  /** `process.version`, e.g. `v20.19.0`. */
  nodeVersion: string;
}

/** The metric name, shared by the processes that export it and doctor, which reads it. */
export const BUILD_INFO_METRIC = 'tote_build_info';

/** The processes that serve /metrics. */
export type Component = 'controller' | 'worker' | 'agent';

interface PackageJson {
  name?: string;
  version?: string;
  gitHead?: string;
}

function readPackage(file: string): PackageJson | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

/**
 * Reads the build of the package that holds `from` (a module URL): the nearest package.json named `tote` above it
 * (`infra/` in a checkout, `dist/infra/` once compiled).
 */
export function readBuildInfo(from: string = import.meta.url): BuildInfo {
  let dir = dirname(fileURLToPath(from));
  for (let i = 0; i < 6; i++) {
    const pkg = readPackage(join(dir, 'package.json'));
    if (pkg?.name === 'tote' && pkg.version) {
      return { version: pkg.version, revision: pkg.gitHead || 'unknown', nodeVersion: process.version };
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return { version: 'unknown', revision: 'unknown', nodeVersion: process.version };
}

/** The `tote --version` line, in the form of the Go tote (cobra's `tote version …`). */
export function versionLine(info: BuildInfo): string {
  const extra = info.revision === 'unknown' ? '' : `, revision ${info.revision}`;
  return `tote version ${info.version} (node ${info.nodeVersion}${extra})`;
}

/** Registers `tote_build_info{version, revision, node_version, component} 1` in `registry`. */
export function registerBuildInfo(registry: Registry, component: Component, info: BuildInfo): void {
  const gauge = new Gauge({
    name: BUILD_INFO_METRIC,
    help: 'Always 1; the labels say which build of tote this process runs.',
    labelNames: ['version', 'revision', 'node_version', 'component'] as const,
    registers: [registry],
  });
  gauge.set({ version: info.version, revision: info.revision, node_version: info.nodeVersion, component }, 1);
}

// The agent's process metrics kept their unprefixed names (process_*, nodejs_*) when the others got prefixes.
const PROCESS_METRIC_PREFIX: Record<Component, string> = {
  controller: 'tote_controller_',
  worker: 'tote_worker_',
  agent: '',
};

/**
 * The registry a composition root serves on /metrics: process metrics (RSS, CPU, event-loop lag) under the
 * component's prefix and `tote_build_info`. Never the global default registry.
 */
export function createProcessRegistry(component: Component, info: BuildInfo = readBuildInfo()): Registry {
  const registry = new Registry();
  const prefix = PROCESS_METRIC_PREFIX[component];
  collectDefaultMetrics({ register: registry, ...(prefix ? { prefix } : {}) });
  registerBuildInfo(registry, component, info);
  return registry;
}

/** The `version` of every `tote_build_info` sample in a Prometheus text exposition (usually one). */
export function buildVersionsIn(exposition: string): string[] {
  const versions: string[] = [];
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${BUILD_INFO_METRIC}{`)) continue;
    const m = /[{,]version="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m?.[1] !== undefined) versions.push(m[1]);
  }
  return versions;
}
