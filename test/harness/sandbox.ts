import { CoreV1Api } from '@kubernetes/client-node';
import { startContainerdNode, listImages, type ContainerdNode } from './containerd.js';
import { buildSandboxImage, importToNode, SANDBOX_IMAGE } from './images.js';
import { startKube, type Kube } from './kube.js';
import { drainCluster } from './kube-drain.js';
import { startKubelet, unmountUnder, type Kubelet } from './kubelet.js';
import { waitFor } from './ports.js';
import { registerNode, updateNodeImages, type NodeImage } from './pods.js';
import { startRegistry, type Registry, type RegistryOptions } from './registry.js';
import { Run } from './run.js';
import { startTemporal, type Temporal } from './temporal.js';

/** Options of {@link startSandbox}. */
export interface SandboxOptions {
  /** Run directory label (`.tote-runs/<label>-…`). @default "sandbox" */
  label?: string;
  /** Number of containerd nodes, named node-1 … node-N. @default 3 */
  nodes?: number;
  /** Serve the Temporal Web UI. @default false */
  ui?: boolean;
  /** Keep Temporal state in a sqlite file so {@link Temporal.restart} keeps workflows. @default false */
  durableTemporal?: boolean;
  /** Start an OCI registry with these options; `false` for none. @default {} (plain HTTP, no auth) */
  registry?: RegistryOptions | false;
  /**
   * A real cluster: kube-controller-manager, kube-scheduler and one kubelet per containerd node, each registering
   * its own Node; pods run. Off, Nodes are objects the harness writes (for suites that write pod statuses by
   * hand; see test/README.md). An object turns them on with KubeletConfiguration fields laid over the sandbox's
   * (`KubeletOptions.config` in kubelet.ts). @default false
   */
  kubelets?: boolean | { config?: Record<string, unknown> };
  /**
   * containerd major version per node, in node order (a mixed cluster); nodes past the list use the default.
   * @default every node {@link containerdMajor} (TOTE_CONTAINERD, 2 unless it is 1)
   */
  containerd?: (1 | 2)[];
}

/** Everything tote talks to, on loopback: Temporal, kube-apiserver + etcd, containerd nodes, a registry. */
export interface Sandbox {
  run: Run;
  temporal: Temporal;
  kube: Kube;
  nodes: ContainerdNode[];
  /** The kubelets, in node order (empty without {@link SandboxOptions.kubelets}). */
  kubelets: Kubelet[];
  registry?: Registry;
  /** Wall time of {@link startSandbox}. */
  startupMs: number;
  /** The node called `name`; throws if there is none. */
  node(name: string): ContainerdNode;
  /**
   * `Node.status.images` of `name` as its containerd holds them now: with kubelets, waits until the kubelet has
   * reported them (its image cache refreshes every 30 s); without, writes them as kubelet's status loop would.
   */
  syncNodeImages(name: string): Promise<NodeImage[]>;
  /** Where each component listens, for humans. */
  describe(): string;
  /** Stops every process; logs stay in the run directory. */
  stop(): Promise<void>;
}

/**
 * The address of simulated node `n` (1-based): its own loopback address, so every node's agent can listen on the
 * same port, as a hostNetwork DaemonSet does, and `{nodeIP}:{port}` finds it.
 */
export function nodeIP(n: number): string {
  return `127.0.0.${10 + n}`;
}

/** `Node.status.images` entries from a containerd's records: one per target digest, names grouped. */
export async function nodeImagesOf(node: ContainerdNode): Promise<NodeImage[]> {
  const byDigest = new Map<string, string[]>();
  for (const rec of await listImages(node)) {
    if (rec.name.startsWith('sha256:')) continue; // the CRI id record is not a name kubelet reports
    const names = byDigest.get(rec.digest) ?? [];
    names.push(rec.name);
    byDigest.set(rec.digest, names);
  }
  return [...byDigest.values()].map((names) => ({
    // kubelet lists RepoDigests first, then RepoTags.
    names: [...names.filter((n) => n.includes('@')), ...names.filter((n) => !n.includes('@'))],
    sizeBytes: 0,
  }));
}

/**
 * Starts the whole sandbox. Components start concurrently where they do not depend on each other; anything
 * already started is stopped again if a later step fails, and the logs are printed.
 */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const started = Date.now();
  const run = Run.create(opts.label ?? 'sandbox');
  try {
    const nodeNames = Array.from({ length: opts.nodes ?? 3 }, (_, i) => `node-${i + 1}`);
    const real = opts.kubelets !== undefined && opts.kubelets !== false;
    const kubeletConfig = typeof opts.kubelets === 'object' ? opts.kubelets.config : undefined;
    const [temporal, kube, nodes, registry] = await Promise.all([
      startTemporal(run, {
        ui: opts.ui,
        dbFile: opts.durableTemporal ? `${run.path('temporal')}/temporal.db` : undefined,
      }),
      startKube(run, { controlPlane: real }),
      Promise.all(
        nodeNames.map((name, i) => startContainerdNode(run, { name, major: opts.containerd?.[i] })),
      ),
      opts.registry === false ? undefined : startRegistry(run, opts.registry ?? {}),
    ]);
    const kc = kube.kubeConfig();
    let kubelets: Kubelet[] = [];
    if (real) {
      kubelets = await startKubelets(run, kube, nodes, kubeletConfig);
    } else {
      await Promise.all(
        nodeNames.map((name, i) => registerNode(kc, { name, images: [], internalIP: nodeIP(i + 1) })),
      );
    }
    const maxImages = kubeletConfig?.nodeStatusMaxImages;
    return assemble({
      run,
      temporal,
      kube,
      nodes,
      kubelets,
      registry,
      started,
      maxImages: typeof maxImages === 'number' ? maxImages : undefined,
    });
  } catch (err) {
    await run.stop();
    process.stderr.write(`sandbox failed to start: ${String(err)}\n${run.tailLogs(30)}\n`);
    throw err;
  }
}

/**
 * Imports the pod sandbox image into every node, starts one kubelet per node and registers the teardown that
 * deletes every pod through the live kubelets before anything stops (so no container outlives the run).
 */
async function startKubelets(
  run: Run,
  kube: Kube,
  nodes: ContainerdNode[],
  config?: Record<string, unknown>,
): Promise<Kubelet[]> {
  const sandboxImage = buildSandboxImage(run);
  await Promise.all(nodes.map((n) => importToNode(n, sandboxImage, SANDBOX_IMAGE, { unpack: true })));
  run.onStop('after', () => unmountUnder(run.dir));
  const kubelets = await Promise.all(
    nodes.map((n, i) =>
      startKubelet(run, kube, n, { name: n.name, nodeIP: nodeIP(i + 1), index: i + 1, config }),
    ),
  );
  run.onStop('before', () => drainCluster(kube, nodes));
  return kubelets;
}

/**
 * Names kubelet would report for `node` now, and whether its Node already says so. With `maxImages`
 * (`nodeStatusMaxImages`), kubelet reports only that many (the largest): then its report is current once it lists
 * that many images and every name in it is one the node holds.
 */
async function kubeletReported(
  kube: Kube,
  node: ContainerdNode,
  maxImages?: number,
): Promise<NodeImage[] | false> {
  const want = await nodeImagesOf(node);
  const status = await kube.kubeConfig().makeApiClient(CoreV1Api).readNode({ name: node.name });
  const reported = status.status?.images ?? [];
  const have = new Set(reported.flatMap((i) => i.names ?? []));
  if (maxImages !== undefined && maxImages >= 0 && want.length > maxImages) {
    const held = new Set(want.flatMap((i) => i.names));
    const current = reported.length === maxImages && [...have].every((n) => held.has(n));
    return current ? reported.map((i) => ({ names: i.names ?? [], sizeBytes: i.sizeBytes ?? 0 })) : false;
  }
  return want.every((img) => img.names.every((n) => have.has(n))) ? want : false;
}

interface Parts {
  run: Run;
  temporal: Temporal;
  kube: Kube;
  nodes: ContainerdNode[];
  kubelets: Kubelet[];
  registry: Registry | undefined;
  started: number;
  /** The kubelets' `nodeStatusMaxImages`, when a suite sets it. */
  maxImages?: number;
}

function assemble(p: Parts): Sandbox {
  const node = (name: string): ContainerdNode => {
    const n = p.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`sandbox has no node "${name}" (has ${p.nodes.map((x) => x.name).join(', ')})`);
    return n;
  };
  return {
    run: p.run,
    temporal: p.temporal,
    kube: p.kube,
    nodes: p.nodes,
    kubelets: p.kubelets,
    registry: p.registry,
    startupMs: Date.now() - p.started,
    node,
    async syncNodeImages(name) {
      if (p.kubelets.length > 0) {
        return waitFor(
          `kubelet ${name} to report its images in Node.status.images`,
          () => kubeletReported(p.kube, node(name), p.maxImages),
          { timeoutMs: 90_000, intervalMs: 1000 },
        );
      }
      const images = await nodeImagesOf(node(name));
      await updateNodeImages(p.kube.kubeConfig(), { name, images });
      return images;
    },
    describe: () => describeSandbox(p),
    stop: () => p.run.stop(),
  };
}

function describeSandbox(p: Parts): string {
  const rows: [string, string][] = [
    ['Temporal frontend', p.temporal.address],
    ['Temporal Web UI', p.temporal.uiUrl ?? '(headless)'],
    ['kube-apiserver', p.kube.server],
    ['admin kubeconfig', p.kube.adminKubeconfigPath],
    ...p.nodes.map((n): [string, string] => [`containerd ${n.name}`, `unix://${n.socket}`]),
    ...p.kubelets.map((k): [string, string] => [`kubelet ${k.name}`, `https://${k.nodeIP}:${k.port}`]),
    ['OCI registry', p.registry?.url ?? '(none)'],
    ['run directory (logs)', p.run.dir],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}
