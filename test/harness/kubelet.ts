/**
 * Real kubelets for the sandbox: one per containerd node, each with its own root directory, ports, client and
 * serving certificates, node name, address (127.0.0.1x on loopback) and CNI network, registering its own Node.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ContainerdNode } from './containerd.js';
import type { Kube } from './kube.js';
import { writeKubeconfig } from './kube-files.js';
import { MERGE_PATCH } from './kube-nodes.js';
import { awaitTool, httpsGet, retryOnEarlyExit, waitUntilReady } from './kube-process.js';
import { issueCert } from './pki.js';
import { freePort } from './ports.js';
import type { Managed, Run } from './run.js';
import { toolPath } from './tools.js';

const execFileP = promisify(execFile);

/** Options of {@link startKubelet}. */
export interface KubeletOptions {
  /** The Node's name (also its hostname label). */
  name: string;
  /** The address the kubelet listens on and reports as InternalIP (a 127.x address: nothing leaves the machine). */
  nodeIP: string;
  /** 1-based index of the node: picks its pod range 10.244.<index>.0/24 on its own bridge. */
  index: number;
  /** How long to wait for the Node to be Ready. @default 90000 */
  readyTimeoutMs?: number;
  /** How long to wait for a kubelet binary that setup is still building. @default 1800000 */
  toolWaitMs?: number;
  /**
   * KubeletConfiguration fields laid over the sandbox's (top-level keys replace), e.g. `nodeStatusMaxImages` or
   * image GC thresholds for a suite that needs kubelet to behave as on a full node.
   */
  config?: Record<string, unknown>;
}

/** A running kubelet, see {@link startKubelet}. */
export interface Kubelet {
  name: string;
  nodeIP: string;
  /** The kubelet's HTTPS API port on {@link nodeIP} (logs, exec: the apiserver comes here). */
  port: number;
  rootDir: string;
  logPath: string;
  /** Stops the kubelet (pods keep running in containerd, as on a real node whose kubelet restarts). */
  stop(): Promise<void>;
  /** Starts it again with the same identity, root dir and ports. */
  restart(): Promise<void>;
}

/** Bridges made for pod networks in this process: removed when their run stops. */
function bridgeName(index: number): string {
  // IFNAMSIZ is 16 with the NUL: "tt" + 6 hex + "n" + index stays well under it and differs between runs.
  return `tt${randomBytes(3).toString('hex')}n${index}`;
}

/**
 * The node's pod network: a bridge of its own with no address on the host side and no routes, so pod addresses
 * (10.244.<index>.0/24, in the pods' own network namespaces) are reachable from nowhere: pods here need none.
 */
function writeCniConfig(node: ContainerdNode, opts: KubeletOptions, bridge: string, ipamDir: string): void {
  const conf = {
    cniVersion: '1.0.0',
    name: `tote-${opts.name}`,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: false,
        ipMasq: false,
        hairpinMode: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: `10.244.${opts.index}.0/24` }]], dataDir: ipamDir },
      },
    ],
  };
  writeFileSync(path.join(node.cniConfDir, '10-tote.conflist'), JSON.stringify(conf, null, 2));
}

/** kubelet's root holds unix sockets (device plugins, pod resources): keep it short, as containerd's are. */
function rootDirFor(run: Run, name: string): { dir: string; temporary: boolean } {
  const preferred = path.join(run.dir, 'kubelet', name);
  if (preferred.length + '/plugins_registry/kubelet.sock'.length + 40 < 100) {
    mkdirSync(preferred, { recursive: true });
    return { dir: preferred, temporary: false };
  }
  return { dir: mkdtempSync(`/tmp/tote-kubelet-${name}-`), temporary: true };
}

function kubeletConfig(o: {
  node: ContainerdNode;
  nodeIP: string;
  port: number;
  healthzPort: number;
  tls: { cert: string; key: string };
  clientCA: string;
  podLogsDir: string;
  overrides?: Record<string, unknown>;
}): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    containerRuntimeEndpoint: `unix://${o.node.socket}`,
    cgroupDriver: 'cgroupfs',
    // This machine has cgroup v1; kubelet 1.35+ refuses it unless told otherwise.
    failCgroupV1: false,
    // Several kubelets share one host's cgroup tree: none of them may own it.
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    localStorageCapacityIsolation: false,
    failSwapOn: false,
    address: o.nodeIP,
    port: o.port,
    readOnlyPort: 0,
    healthzBindAddress: o.nodeIP,
    healthzPort: o.healthzPort,
    tlsCertFile: o.tls.cert,
    tlsPrivateKeyFile: o.tls.key,
    // Only holders of a client certificate from the sandbox's client CA (the apiserver) reach the kubelet API.
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: o.clientCA },
    },
    authorization: { mode: 'AlwaysAllow' },
    resolvConf: '',
    // Node.status (images included) every 4 s instead of 10 s: tests see what the node holds sooner.
    nodeStatusUpdateFrequency: '4s',
    // A salvaged pod is restarted by tote; kubelet's own retries would also find the image, just later.
    serializeImagePulls: false,
    // The disk is shared by every node: kubelet must not evict test pods or collect images on its own.
    evictionHard: { 'memory.available': '0%', 'nodefs.available': '0%', 'imagefs.available': '0%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    containerLogMaxSize: '1Mi',
    // Not the machine-wide /var/log/pods: a kubelet removes the log directories of pods it does not know, so
    // kubelets sharing one would delete each other's logs.
    podLogsDir: o.podLogsDir,
    shutdownGracePeriod: '0s',
    ...o.overrides,
  });
}

/**
 * Waits for the kubelet's Node to be Ready and gives it its address. kubelet refuses a loopback `--node-ip`
 * ("nodeIP can't be loopback address") and then leaves `status.addresses` alone rather than reporting a wrong
 * one; every node here lives on loopback (nothing may leave the machine), so the harness writes the InternalIP
 * and Hostname the kubelet would have reported, once, and the kubelet keeps them. See test/README.md.
 */
async function nodeReady(core: CoreV1Api, name: string, nodeIP: string): Promise<V1Node | false> {
  const node = await core.readNode({ name }).catch(() => undefined);
  if (!node) return false;
  if (!node.status?.addresses?.some((a) => a.type === 'InternalIP' && a.address === nodeIP)) {
    const addresses = [
      { type: 'InternalIP', address: nodeIP },
      { type: 'Hostname', address: name },
    ];
    await core.patchNodeStatus({ name, body: { status: { addresses } } }, MERGE_PATCH);
    return false;
  }
  const ready = node.status.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'True' ? node : false;
}

/**
 * Starts a kubelet for `node` against the sandbox's apiserver (which must run with a control plane, so the node
 * lifecycle and scheduling act on what it reports) and resolves once its Node is Ready. Its pods' containers run
 * in that node's containerd; the pod network is a bridge of this node's own (see {@link writeCniConfig}).
 */
export async function startKubelet(
  run: Run,
  kube: Kube,
  node: ContainerdNode,
  opts: KubeletOptions,
): Promise<Kubelet> {
  const binary = await awaitTool('kubelet', opts.toolWaitMs ?? 1_800_000);
  const { pki } = kube;
  const root = rootDirFor(run, opts.name);
  const certDir = run.path('kubelet-pki', opts.name);
  const client = issueCert(
    { ...pki.clientCA, dir: certDir },
    {
      name: 'kubelet-client',
      commonName: `system:node:${opts.name}`,
      organizations: ['system:nodes'],
      usage: 'client',
    },
  );
  const serving = issueCert(
    { ...pki.servingCA, dir: certDir },
    {
      name: 'kubelet-serving',
      commonName: opts.name,
      sans: [opts.nodeIP, opts.name],
      usage: 'server',
    },
  );
  const kubeconfig = writeKubeconfig({
    file: path.join(certDir, 'kubelet.kubeconfig'),
    server: kube.server,
    caFile: pki.servingCA.cert,
    userName: `system:node:${opts.name}`,
    user: { clientCert: client },
  });
  const bridge = bridgeName(opts.index);
  writeCniConfig(node, opts, bridge, run.path('cni-ipam', opts.name));
  run.onStop('after', async () => {
    await execFileP('ip', ['link', 'delete', bridge]).catch(() => undefined);
    await unmountUnder(root.dir);
    removeLogLinks(root.dir);
    if (root.temporary) rmSync(root.dir, { recursive: true, force: true });
  });
  const core = kube.kubeConfig().makeApiClient(CoreV1Api);
  const ca = readFileSync(pki.servingCA.cert, 'utf8');
  let managed: Managed | undefined;
  let port = 0;
  let healthzPort = 0;
  const start = async (): Promise<void> =>
    retryOnEarlyExit(3, async (attempt) => {
      if (attempt > 1 || port === 0) [port, healthzPort] = [await freePort(), await freePort()];
      const configFile = path.join(certDir, 'kubelet-config.yaml');
      writeFileSync(
        configFile,
        kubeletConfig({
          node,
          nodeIP: opts.nodeIP,
          port,
          healthzPort,
          tls: serving,
          clientCA: pki.clientCA.cert,
          podLogsDir: path.join(root.dir, 'pod-logs'),
          overrides: opts.config,
        }),
      );
      const proc = run.spawn({
        name: `kubelet-${opts.name}`,
        cmd: binary,
        args: [
          `--config=${configFile}`,
          `--kubeconfig=${kubeconfig}`,
          `--hostname-override=${opts.name}`,
          `--node-ip=${opts.nodeIP}`,
          `--root-dir=${root.dir}`,
          `--cert-dir=${certDir}`,
          '--v=1',
        ],
        env: { PATH: `${path.dirname(toolPath('busybox'))}:${process.env.PATH ?? ''}` },
      });
      managed = proc;
      await waitUntilReady(
        proc,
        `kubelet ${opts.name} healthz on ${opts.nodeIP}:${healthzPort}`,
        async () => {
          const res = await fetch(`http://${opts.nodeIP}:${healthzPort}/healthz`).catch(() => undefined);
          return res?.status === 200;
        },
        opts.readyTimeoutMs ?? 90_000,
      );
      await waitUntilReady(
        proc,
        `Node ${opts.name} to be Ready`,
        () => nodeReady(core, opts.name, opts.nodeIP),
        opts.readyTimeoutMs ?? 90_000,
      );
      // The serving certificate is the one the apiserver will verify for logs and exec.
      await httpsGet(`https://${opts.nodeIP}:${port}/healthz`, { ca }).catch(() => undefined);
    });
  await start();
  return {
    name: opts.name,
    nodeIP: opts.nodeIP,
    get port() {
      return port;
    },
    rootDir: root.dir,
    logPath: path.join(run.logsDir, `kubelet-${opts.name}.log`),
    stop: async () => void (await managed?.stop()),
    restart: async () => {
      await managed?.stop();
      await start();
    },
  };
}

/**
 * kubelet links every container log into the machine-wide /var/log/containers (a fixed path); a kubelet that is
 * stopped leaves its links behind. Removes those pointing into this kubelet's root, and no other.
 */
function removeLogLinks(rootDir: string): void {
  const dir = '/var/log/containers';
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const link = path.join(dir, name);
    try {
      if (readlinkSync(link).startsWith(`${rootDir}/`)) unlinkSync(link);
    } catch {
      // not a link, or gone meanwhile
    }
  }
}

/** Unmounts everything mounted below `dir` (deepest first): tmpfs volumes a stopped kubelet left behind. */
export async function unmountUnder(dir: string): Promise<void> {
  if (!existsSync('/proc/self/mountinfo')) return;
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execFileP('umount', ['-l', m]).catch(() => undefined);
}
