import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BuiltImage } from './oci-model.js';
import type { Registry } from './registry.js';
import type { Run } from './run.js';
import { toolPath } from './tools.js';

const execFileP = promisify(execFile);

/** Options of {@link pushToRegistry}. */
export interface PushOptions {
  /** Credentials to use instead of the registry's own (e.g. a wrong password). */
  creds?: { username: string; password: string };
}

/** skopeo's TLS and credential flags for `registry`, with `prefix` '' (inspect), 'src-' or 'dest-'. */
function skopeoRegistryFlags(registry: Registry, prefix: string, opts: PushOptions): string[] {
  const own = registry.username
    ? { username: registry.username, password: registry.password ?? '' }
    : undefined;
  const creds = opts.creds ?? own;
  return [
    ...(registry.certDir ? [`--${prefix}cert-dir`, registry.certDir] : [`--${prefix}tls-verify=false`]),
    ...(creds ? [`--${prefix}creds`, `${creds.username}:${creds.password}`] : []),
  ];
}

async function skopeo(args: string[]): Promise<Buffer> {
  const { stdout } = await execFileP(toolPath('skopeo'), ['--insecure-policy', ...args], {
    maxBuffer: 64 << 20,
    encoding: 'buffer',
  });
  return stdout;
}

/**
 * Pushes `image` to `registry` as `<repoAndTag>` with skopeo, preserving digests (`--preserve-digests`: no
 * recompression or conversion, so the registry serves byte-identical manifests and blobs) and every platform.
 * Returns the pushed reference `host/repo:tag`.
 */
export async function pushToRegistry(
  image: BuiltImage,
  registry: Registry,
  repoAndTag: string,
  opts: PushOptions = {},
): Promise<string> {
  const dest = `${registry.host}/${repoAndTag}`;
  const flags = skopeoRegistryFlags(registry, 'dest-', opts);
  await skopeo([
    'copy',
    '--quiet',
    '--preserve-digests',
    '--multi-arch',
    'all',
    ...flags,
    `oci:${image.dir}`,
    `docker://${dest}`,
  ]);
  return dest;
}

/** The raw manifest (or index) bytes the registry serves for `ref` (`host/repo:tag`), fetched by skopeo. */
export async function inspectRaw(registry: Registry, ref: string, opts: PushOptions = {}): Promise<Buffer> {
  return skopeo(['inspect', '--raw', ...skopeoRegistryFlags(registry, '', opts), `docker://${ref}`]);
}

/**
 * Copies `ref` (`host/repo:tag`, every platform, digests preserved) from the registry into a new skopeo `dir:`
 * directory under `<run>/pulled/` and returns it with the digest of the root manifest bytes it received. (`dir:`
 * rather than an OCI layout: skopeo will not store a docker manifest list in a layout without converting it.)
 */
export async function pullFromRegistry(
  run: Run,
  registry: Registry,
  ref: string,
): Promise<{ dir: string; digest: string }> {
  const dir = run.path('pulled', randomBytes(6).toString('hex'));
  const flags = skopeoRegistryFlags(registry, 'src-', {});
  await skopeo([
    'copy',
    '--quiet',
    '--preserve-digests',
    '--multi-arch',
    'all',
    ...flags,
    `docker://${ref}`,
    `dir:${dir}`,
  ]);
  const root = readFileSync(path.join(dir, 'manifest.json'));
  return { dir, digest: `sha256:${createHash('sha256').update(root).digest('hex')}` };
}
