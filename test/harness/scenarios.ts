/**
 * The outage every salvage story starts from: an image that some nodes still cache and the registry has lost.
 */
import { buildImage, importToNode, pushToRegistry, type BuiltImage, type ImageSpec } from './images.js';
import type { Sandbox } from './sandbox.js';

/** An image the registry lost, see {@link seedLostImage}. */
export interface LostImage {
  image: BuiltImage;
  /** `host/repo` in the sandbox registry. */
  repo: string;
  /** `repo:tag`: what the workloads reference. */
  ref: string;
}

/** Options of {@link seedLostImage}. */
export interface LostImageOptions {
  /** Repository path in the sandbox registry, e.g. `shop/web`. */
  repo: string;
  /** @default "1.0" */
  tag?: string;
  /** Nodes whose containerd keeps a copy. @default ["node-1"] */
  holders?: string[];
  /** The image to build. @default two 1 MiB data layers, runnable (busybox printing a line) */
  spec?: Partial<ImageSpec>;
}

/**
 * Builds an image, pushes it to the sandbox registry (so it once was pullable, with the digest a pull would have
 * recorded), imports it into the holders' containerd, then deletes its manifest from the registry: a pull of
 * `ref` now fails with the registry's own "not found", as after a lost or garbage-collected image.
 */
export async function seedLostImage(sb: Sandbox, opts: LostImageOptions): Promise<LostImage> {
  const registry = sb.registry;
  if (!registry) throw new Error('seedLostImage needs the sandbox registry');
  const image = await buildImage(sb.run, {
    layers: 2,
    layerSize: 1 << 20,
    app: {},
    name: opts.repo.replace(/\W/g, '-'),
    ...opts.spec,
  });
  const repo = `${registry.host}/${opts.repo}`;
  const ref = `${repo}:${opts.tag ?? '1.0'}`;
  await pushToRegistry(image, registry, `${opts.repo}:${opts.tag ?? '1.0'}`);
  for (const holder of opts.holders ?? ['node-1']) await importToNode(sb.node(holder), image, ref);
  const del = await fetch(`${registry.url}/v2/${opts.repo}/manifests/${image.digest}`, { method: 'DELETE' });
  if (del.status !== 202) throw new Error(`registry refused to delete ${ref}: HTTP ${del.status}`);
  return { image, repo, ref };
}
