import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { SANDBOX_IMAGE } from './oci-app.js';
import { waitFor } from './ports.js';
import type { Managed, Run } from './run.js';
import { toolPath, toolsBin } from './tools.js';

const execFileP = promisify(execFile);

/** The containerd namespace the CRI plugin (and so the kubelet) uses. */
export const K8S_NAMESPACE = 'k8s.io';

/**
 * Major version of the containerd daemon the harness starts: 2 (the `containerd2` tool hack/setup-tools.sh builds,
 * the default) or 1 when `TOTE_CONTAINERD=1` (Debian's 1.6, the compatibility target).
 */
export function containerdMajor(): 1 | 2 {
  return process.env.TOTE_CONTAINERD === '1' ? 1 : 2;
}

/** Where the CNI plugins the nodes use are linked (Debian's containernetworking-plugins). */
function cniBinDir(): string {
  return path.join(toolsBin(), 'cni');
}

/** Options of {@link startContainerdNode}. */
export interface ContainerdOptions {
  /** Short node name (letters, digits, dashes): names the directories and the log `containerd-<name>.log`. */
  name: string;
  /** Snapshotter for CRI and unpacking. overlayfs falls back to native by itself where overlay mounts fail. */
  snapshotter?: 'overlayfs' | 'native';
  /** How long to wait for the daemon and its CRI plugin. @default 30000 */
  timeoutMs?: number;
  /** Containerd major version. @default {@link containerdMajor} (the TOTE_CONTAINERD variable) */
  major?: 1 | 2;
}

/** A containerd 2.x (or 1.6, see {@link containerdMajor}) daemon of its own (root, state, sockets, CRI plugin) started by {@link startContainerdNode}. */
export interface ContainerdNode {
  name: string;
  /** gRPC unix socket path (containerd API and CRI); grpc-js target `unix://<socket>`. */
  socket: string;
  root: string;
  state: string;
  configPath: string;
  logPath: string;
  /** containerd's major version (1.6 or 2.x). */
  major: 1 | 2;
  /** The CNI config directory its CRI plugin watches (a kubelet's node writes its network there). */
  cniConfDir: string;
  /** Snapshotter actually in use (after any overlayfs → native fallback). */
  snapshotter: 'overlayfs' | 'native';
  /** Milliseconds the last (re)start took until the CRI plugin was initialized. */
  startMs: number;
  /** Graceful stop (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** SIGKILL, for crash tests. */
  kill(): Promise<void>;
  /** Stops (if running) and starts again on the same root, state and socket. */
  restart(): Promise<void>;
}

/** Unix socket paths must stay under ~108 bytes: use the run dir when short enough, else a /tmp dir. */
function socketDir(run: Run, name: string): string {
  const preferred = path.join(run.dir, 'sock', name);
  if (preferred.length + '/containerd.sock.ttrpc'.length < 100) {
    mkdirSync(preferred, { recursive: true });
    return preferred;
  }
  return mkdtempSync(`/tmp/tote-${name}-`);
}

interface Dirs {
  base: string;
  root: string;
  state: string;
  socket: string;
  cniConf: string;
}

/** The sockets, silenced debug/metrics listeners and the opt directory: the same in every config version. */
function listenersToml(d: Dirs): string {
  return `[grpc]
  address = "${d.socket}"
[ttrpc]
  address = "${d.socket}.ttrpc"
# No debug or metrics listeners: several daemons run side by side.
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "${path.join(d.base, 'opt')}"
`;
}

function configToml(d: Dirs, snapshotter: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${d.root}"
state = "${d.state}"
temp = "${path.join(d.base, 'tmp')}"
# Snapshotters that probe kernel modules or special filesystems only add noise and start time here.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

${listenersToml(d)}  [${cri}]
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    # Port 0: the kernel picks a free port for each daemon's streaming server.
    stream_server_port = "0"
    disable_cgroup = true
    disable_apparmor = true
    # No process here may lower its oom_score_adj (no CAP_SYS_RESOURCE): clamp pod sandboxes' -998 to ours.
    restrict_oom_score_adj = true
    # The pod sandbox image is built locally (oci-app.ts) and imported: nothing is ever pulled for it.
    sandbox_image = "${SANDBOX_IMAGE}"
  [${cri}.containerd]
    snapshotter = "${snapshotter}"
  [${cri}.cni]
    bin_dir = "${cniBinDir()}"
    conf_dir = "${d.cniConf}"
`;
}

/**
 * The same layout for containerd 2.x: config `version = 3`, where the CRI plugin is split into
 * `io.containerd.cri.v1.images` (snapshotter), `io.containerd.cri.v1.runtime` (runtime, CNI, apparmor/OOM
 * switches) and `io.containerd.grpc.v1.cri` (the gRPC services and the streaming server).
 */
function configTomlV3(d: Dirs, snapshotter: string): string {
  const runtime = `plugins."io.containerd.cri.v1.runtime"`;
  return `version = 3
root = "${d.root}"
state = "${d.state}"
temp = "${path.join(d.base, 'tmp')}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]

${listenersToml(d)}  # NRI listens on one machine-wide socket (/var/run/nri/nri.sock): side-by-side daemons would fight over it.
  [plugins."io.containerd.nri.v1.nri"]
    disable = true
  [plugins."io.containerd.cri.v1.images"]
    snapshotter = "${snapshotter}"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    # Built locally (oci-app.ts) and imported: nothing is ever pulled for it.
    sandbox = "${SANDBOX_IMAGE}"
  [${runtime}]
    disable_apparmor = true
    # No process here may lower its oom_score_adj (no CAP_SYS_RESOURCE): clamp pod sandboxes' -998 to ours.
    restrict_oom_score_adj = true
    # Pod network namespaces live in this node's state directory, not the machine-wide /var/run/netns.
    netns_mounts_under_state_dir = true
  [${runtime}.containerd]
    default_runtime_name = "runc"
  [${runtime}.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [${runtime}.containerd.runtimes.runc.options]
    BinaryName = "${path.join(toolsBin(), 'runc')}"
  [${runtime}.cni]
    bin_dirs = ["${cniBinDir()}"]
    conf_dir = "${d.cniConf}"
  [plugins."io.containerd.grpc.v1.cri"]
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
`;
}

function writeConfig(node: ContainerdNode, d: Dirs): void {
  const toml = node.major === 2 ? configTomlV3 : configToml;
  writeFileSync(node.configPath, toml(d, node.snapshotter));
}

/** Runs `ctr --address <socket> -n <namespace> ...args` and returns stdout. Namespace defaults to `k8s.io`. */
export async function ctr(
  node: Pick<ContainerdNode, 'socket'>,
  args: string[],
  namespace = K8S_NAMESPACE,
): Promise<string> {
  const { stdout } = await execFileP(toolPath('ctr'), ['--address', node.socket, '-n', namespace, ...args], {
    maxBuffer: 64 << 20,
  });
  return stdout;
}

/**
 * Runs `ctr ... <args>` with `feed` writing its stdin (e.g. `images import -` fed a tar stream, which spares a
 * temporary copy of a big image on disk). Resolves with stdout; rejects with stderr if ctr fails.
 */
export async function ctrStream(
  node: Pick<ContainerdNode, 'socket'>,
  args: string[],
  feed: (stdin: Writable) => Promise<void>,
): Promise<string> {
  const child = spawn(toolPath('ctr'), ['--address', node.socket, '-n', K8S_NAMESPACE, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  // If ctr dies early, the write fails with EPIPE; its exit status and stderr are the useful error then.
  const fed = feed(child.stdin).catch((e: unknown) => e);
  const [code, feedError] = await Promise.all([exited, fed]);
  if (code !== 0 || feedError) {
    throw new Error(
      `ctr ${args.join(' ')} failed (${code}): ${Buffer.concat(err).toString() || String(feedError)}`,
    );
  }
  return Buffer.concat(out).toString();
}

/** One containerd image record as `ctr images ls` shows it. */
export interface ImageRecord {
  name: string;
  mediaType: string;
  digest: string;
}

/** Image records in the node's `k8s.io` namespace (read over containerd's gRPC API by `ctr`). */
export async function listImages(node: ContainerdNode): Promise<ImageRecord[]> {
  const lines = (await ctr(node, ['images', 'ls'])).split('\n').slice(1).filter(Boolean);
  return lines.map((l) => {
    const [name = '', mediaType = '', digest = ''] = l.split(/\s+/);
    return { name, mediaType, digest };
  });
}

/** Digests of every committed blob in the node's `k8s.io` namespace. */
export async function listContent(node: ContainerdNode): Promise<string[]> {
  return (await ctr(node, ['content', 'ls', '-q'])).split('\n').filter(Boolean);
}

/**
 * Runs containerd's garbage collector now and waits for it to finish. containerd 1.6 has no "gc" command;
 * deleting a lease with `--sync` makes the leases service call the GC scheduler's `ScheduleAndWait`, which
 * collects everything unreferenced (in every namespace), so we create an empty lease and delete it that way.
 */
export async function gc(node: ContainerdNode): Promise<void> {
  const id = (await ctr(node, ['leases', 'create'])).trim();
  await ctr(node, ['leases', 'delete', '--sync', id]);
}

/**
 * The daemon binary and the PATH it runs with. The 2.x build keeps its own runc shim beside it, first on its PATH,
 * so 1.6 and 2.x nodes each start the shim of their own release.
 */
function daemon(major: 1 | 2): { cmd: string; path: string } {
  const base = `${toolsBin()}:${process.env.PATH ?? ''}`;
  if (major === 1) return { cmd: toolPath('containerd'), path: base };
  const cmd = realpathSync(toolPath('containerd2'));
  return { cmd, path: `${path.dirname(cmd)}:${base}` };
}

interface Started {
  managed: Managed;
  ms: number;
}

function logSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

/**
 * Spawns the daemon and resolves once its CRI plugin is initialized: the socket answers `ctr version` and the
 * log (past this start's offset) says "Start streaming server", which 1.6 prints right before marking CRI
 * initialized (before that, CRI calls fail with "server is not initialized yet").
 */
async function spawnDaemon(run: Run, node: ContainerdNode, timeoutMs: number): Promise<Started> {
  const t0 = Date.now();
  const offset = logSize(node.logPath);
  const d = daemon(node.major);
  const managed = run.spawn({
    name: `containerd-${node.name}`,
    cmd: d.cmd,
    args: ['--config', node.configPath],
    env: { PATH: d.path },
  });
  let exit: number | string | undefined;
  void managed.exited.then((c) => (exit = c));
  const ready = await waitFor(
    `containerd ${node.name} (${node.socket}) to serve CRI`,
    async () => {
      if (exit !== undefined) return `exited with ${exit}`;
      if (!readFileSync(node.logPath).subarray(offset).includes('Start streaming server')) return false;
      await ctr(node, ['version']);
      return 'ok';
    },
    timeoutMs,
  );
  if (ready !== 'ok') {
    throw new Error(
      `containerd ${node.name} ${ready}; log ${node.logPath}:\n${readFileSync(node.logPath, 'utf8').slice(-3000)}`,
    );
  }
  return { managed, ms: Date.now() - t0 };
}

async function pluginStatus(node: ContainerdNode, id: string): Promise<string | undefined> {
  const line = (await ctr(node, ['plugins', 'ls'])).split('\n').find((l) => l.split(/\s+/)[1] === id);
  return line?.trim().split(/\s+/).pop();
}

/**
 * Starts a containerd daemon (2.x by default, see {@link containerdMajor}) with its own root, state, gRPC and ttrpc sockets, opt path, CNI dirs and CRI
 * plugin (namespace `k8s.io`), so several can run side by side. Needs root (as in this sandbox).
 */
export async function startContainerdNode(run: Run, opts: ContainerdOptions): Promise<ContainerdNode> {
  const base = run.path('containerd', opts.name);
  const dirs: Dirs = {
    base,
    root: path.join(base, 'root'),
    state: path.join(base, 'state'),
    socket: path.join(socketDir(run, opts.name), 'containerd.sock'),
    cniConf: path.join(base, 'cni', 'net.d'),
  };
  mkdirSync(dirs.cniConf, { recursive: true });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let managed: Managed | undefined;
  const node: ContainerdNode = {
    name: opts.name,
    socket: dirs.socket,
    root: dirs.root,
    state: dirs.state,
    configPath: path.join(base, 'config.toml'),
    logPath: path.join(run.logsDir, `containerd-${opts.name}.log`),
    major: opts.major ?? containerdMajor(),
    cniConfDir: dirs.cniConf,
    snapshotter: opts.snapshotter ?? 'overlayfs',
    startMs: 0,
    stop: async () => void (await managed?.stop()),
    kill: async () => void (await managed?.kill()),
    restart: async () => {
      await managed?.stop();
      const s = await spawnDaemon(run, node, timeoutMs);
      managed = s.managed;
      node.startMs = s.ms;
    },
  };
  writeConfig(node, dirs);
  await node.restart();
  if ((await pluginStatus(node, 'cri')) !== 'ok')
    throw new Error(`containerd ${opts.name}: CRI plugin not ok`);
  if (node.snapshotter === 'overlayfs' && (await pluginStatus(node, 'overlayfs')) !== 'ok') {
    // e.g. a root filesystem that is itself overlayfs: fall back to the copy-based snapshotter.
    node.snapshotter = 'native';
    writeConfig(node, dirs);
    await node.restart();
  }
  return node;
}
