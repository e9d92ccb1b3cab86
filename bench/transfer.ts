/**
 * `npm run bench:transfer`: moves one 512 MiB image of 8 layers from node A to a fresh node, in the same run,
 * (a) through the tote agents (mTLS, real processes), (b) with `ctr images export | ctr images import` as an
 * operator runs it (import unpacks by default; the `--no-unpack` pipe is printed too), and (c) with a plain
 * content-API copy (read from A's containerd, write to the target's, in this process, no agent) as the
 * practical limit; then the dedup case (7 of 8 layers already on the target) and push versus `skopeo copy`.
 * Every variant runs TOTE_BENCH_RUNS times (default 3), interleaved, each into a fresh target; the medians
 * are printed, one `name value unit` line per figure. Not a test: timings depend on the machine (its load
 * average is printed too). Besides wall time, each transfer's CPU time is summed over every process that works
 * for it (containerds, agents or ctr, this process): on a shared, loaded machine that is the steadier measure
 * of what a transfer costs. Size knobs: TOTE_BENCH_LAYERS (default 8), TOTE_BENCH_LAYER_MIB (default 64).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { copyBlob } from '../agent/blob-copy.js';
import { ContainerdStore } from '../agent/containerd-store.js';
import type { SourceLink } from '../agent/plan.js';
import type { Descriptor } from '../agent/store.js';
import { startRealCluster, transfer, type RealCluster } from '../test/agent-contract/real.js';
import { startContainerdNode, type ContainerdNode } from '../test/harness/containerd.js';
import { buildImage, importToNode, type BuiltImage } from '../test/harness/images.js';
import { startRegistry } from '../test/harness/registry.js';
import { Run } from '../test/harness/run.js';
import { toolPath } from '../test/harness/tools.js';

const execFileP = promisify(execFile);
const MiB = 1 << 20;
const LAYERS = Number(process.env.TOTE_BENCH_LAYERS ?? 8);
const LAYER_BYTES = Number(process.env.TOTE_BENCH_LAYER_MIB ?? 64) * MiB;
const RUNS = Number(process.env.TOTE_BENCH_RUNS ?? 3);
const NAME = 'bench.example/big:v1';
const NAME2 = 'bench.example/big:v2';

function line(name: string, value: number, unit = ''): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)}${unit ? ` ${unit}` : ''}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Cumulative CPU seconds (user + system) of a process, from /proc (Linux; 100 clock ticks a second). */
function processCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function selfCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** The pid of a node's containerd (the process whose command line names its config file). */
function containerdPid(node: ContainerdNode): number {
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(node.configPath)) return Number(p);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no containerd process for ${node.name}`);
}

/** Wall time and CPU time (of `pids`, this process, and whatever CPU `fn` reports for its children). */
interface Measured {
  seconds: number;
  cpu: number;
}

async function measured(what: string, pids: number[], fn: () => Promise<unknown>): Promise<Measured> {
  const before = pids.map(processCpu);
  const self = selfCpu();
  const t0 = process.hrtime.bigint();
  const children = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu =
    pids.reduce((sum, p, i) => sum + processCpu(p) - (before[i] as number), 0) +
    (selfCpu() - self) +
    (typeof children === 'number' ? children : 0);
  const load = loadavg()[0]?.toFixed(1);
  process.stderr.write(`bench: ${what}: ${seconds.toFixed(2)} s, ${cpu.toFixed(2)} s CPU (load ${load})\n`);
  return { seconds, cpu };
}

async function timed(what: string, fn: () => Promise<unknown>): Promise<number> {
  return (await measured(what, [], fn)).seconds;
}

function blobs(img: BuiltImage): Descriptor[] {
  const p = img.platforms[0];
  if (!p) throw new Error('no platform');
  return [p.manifest, p.config, ...p.layers];
}

/**
 * The practical limit: every blob read from A's content store and written into the target's with the agent's
 * own store and blob copier (4 blobs at once, as an import does), but in this process: no agents, no TLS, no
 * hop between processes.
 */
async function plainCopy(from: ContainerdNode, to: ContainerdNode, img: BuiltImage): Promise<void> {
  const src = new ContainerdStore({ socket: from.socket, namespace: 'k8s.io' });
  const dst = new ContainerdStore({ socket: to.socket, namespace: 'k8s.io' });
  const peer = {
    prepareExport: () => Promise.reject(new Error('unused')),
    async *readBlob(req: { digest: string; offset: string }) {
      let offset = Number(req.offset);
      for await (const data of src.read(req.digest, { offset })) {
        yield { offset: String(offset), data: Buffer.from(data.buffer, data.byteOffset, data.length) };
        offset += data.length;
      }
    },
    close: () => undefined,
  };
  const link: SourceLink = { node: 'a', peer, blobs: new Set(blobs(img).map((b) => b.digest)) };
  await dst.createLease('bench-plain-copy', 3600_000);
  const queue = [...blobs(img)].sort((x, y) => y.size - x.size);
  const worker = async (): Promise<void> => {
    for (let d = queue.shift(); d; d = queue.shift()) {
      await copyBlob({
        store: dst,
        desc: d,
        lease: 'bench-plain-copy',
        labels: {},
        sources: [link],
        token: '',
        node: 'b',
      });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  src.close();
  dst.close();
}

/** Runs the pipe; returns the CPU seconds of its two ctr processes (bash's `times`). */
async function ctrPipe(from: ContainerdNode, to: ContainerdNode, unpack: boolean): Promise<number> {
  const ctr = toolPath('ctr');
  const importFlags = unpack ? '' : '--no-unpack';
  const script = `set -e -o pipefail; "${ctr}" --address "${from.socket}" -n k8s.io images export - ${NAME} | "${ctr}" --address "${to.socket}" -n k8s.io images import ${importFlags} - >/dev/null; times`;
  const { stdout } = await execFileP('bash', ['-c', script], { maxBuffer: 16 << 20 });
  const children = stdout.trim().split('\n').pop() ?? '';
  return [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((n, m) => n + Number(m[1]) * 60 + Number(m[2]), 0);
}

async function agentPush(cluster: RealCluster, digest: string, target: string): Promise<void> {
  const client = cluster.client('a');
  try {
    for await (const _ of client.pushImage({ digest, target, insecure: true })) void _;
  } finally {
    client.close();
  }
}

/** Peak resident memory of an agent process (VmHWM), in MiB: flat whatever the image size. */
function peakRssMiB(cluster: RealCluster, node: string): number {
  const pid = cluster.node(node).managed.child.pid;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Runs `fn` against a containerd node of its own, then stops it and frees its disk. */
async function withScratchNode<T>(run: Run, name: string, fn: (n: ContainerdNode) => Promise<T>): Promise<T> {
  const node = await startContainerdNode(run, { name });
  try {
    return await fn(node);
  } finally {
    await node.stop();
    rmSync(path.dirname(node.root), { recursive: true, force: true });
  }
}

interface Samples {
  limit: Measured[];
  ctr: Measured[];
  ctrNoUnpack: Measured[];
  agents: Measured[];
  dedup: number[];
  dedupBytes: number[];
  push: number[];
  skopeo: number[];
  rss: { source: number; target: number };
}

interface Fixture {
  run: Run;
  cluster: RealCluster;
  a: ContainerdNode;
  img: BuiltImage;
  img2: BuiltImage;
}

/** One round of every variant, each into a fresh target. */
async function round(f: Fixture, i: number, s: Samples): Promise<void> {
  const { run, cluster, a, img, img2 } = f;
  const source = containerdPid(a);
  const scratch = (name: string, what: string, fn: (t: ContainerdNode) => Promise<unknown>) =>
    withScratchNode(run, `${name}-${i}`, (t) => measured(what, [source, containerdPid(t)], () => fn(t)));
  s.limit.push(await scratch('plain', 'plain copy', (t) => plainCopy(a, t, img)));
  s.ctr.push(await scratch('ctr', 'ctr pipe', (t) => ctrPipe(a, t, true)));
  s.ctrNoUnpack.push(await scratch('ctrnu', 'ctr pipe --no-unpack', (t) => ctrPipe(a, t, false)));
  const to = `b${i}`;
  const agentPids = [source, containerdPid(cluster.node(to).containerd)].concat(
    ['a', to].map((n) => cluster.node(n).managed.child.pid ?? NaN),
  );
  s.agents.push(
    await measured('agents', agentPids, () =>
      transfer(cluster, { digest: img.digest, from: ['a'], to, names: [NAME] }),
    ),
  );
  s.dedup.push(
    await timed('agents, 7 of 8 layers already there', async () => {
      const done = await transfer(cluster, { digest: img2.digest, from: ['a'], to, names: [NAME2] });
      s.dedupBytes.push(Number(done.bytesReceived));
    }),
  );
  s.rss.source = Math.max(s.rss.source, peakRssMiB(cluster, 'a'));
  s.rss.target = Math.max(s.rss.target, peakRssMiB(cluster, to));
  await cluster.node(to).managed.stop();
  const regA = await startRegistry(run, { name: `reg-agent-${i}` });
  const regS = await startRegistry(run, { name: `reg-skopeo-${i}` });
  s.push.push(await timed('agent push', () => agentPush(cluster, img.digest, `${regA.host}/bench/big:v1`)));
  s.skopeo.push(
    await timed('skopeo copy', () =>
      execFileP(toolPath('skopeo'), [
        ...['--insecure-policy', 'copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false'],
        ...[`oci:${img.dir}`, `docker://${regS.host}/bench/big:v1`],
      ]),
    ),
  );
  await Promise.all([regA.stop(), regS.stop()]);
}

function report(img: BuiltImage, s: Samples, load: { start: number; end: number }): void {
  const mib = img.totalSize / MiB;
  const wall = (xs: Measured[]): number => median(xs.map((x) => x.seconds));
  const cpu = (xs: Measured[]): number => median(xs.map((x) => x.cpu));
  const m = {
    limit: wall(s.limit),
    ctr: wall(s.ctr),
    ctrNoUnpack: wall(s.ctrNoUnpack),
    agents: wall(s.agents),
    dedup: median(s.dedup),
    push: median(s.push),
    skopeo: median(s.skopeo),
  };
  line('image_size', mib, 'MiB');
  line('bench_runs', RUNS);
  line('load_average_start', load.start);
  line('load_average_end', load.end);
  line('transfer_limit_seconds', m.limit, 's');
  line('transfer_limit_throughput', mib / m.limit, 'MiB/s');
  line('transfer_ctr_seconds', m.ctr, 's');
  line('transfer_ctr_throughput', mib / m.ctr, 'MiB/s');
  line('transfer_ctr_no_unpack_seconds', m.ctrNoUnpack, 's');
  line('transfer_agents_seconds', m.agents, 's');
  line('transfer_agents_throughput', mib / m.agents, 'MiB/s');
  line('transfer_limit_cpu_seconds', cpu(s.limit), 's');
  line('transfer_ctr_cpu_seconds', cpu(s.ctr), 's');
  line('transfer_ctr_no_unpack_cpu_seconds', cpu(s.ctrNoUnpack), 's');
  line('transfer_agents_cpu_seconds', cpu(s.agents), 's');
  line('cpu_ratio_vs_ctr', cpu(s.ctr) / cpu(s.agents), 'x');
  line('cpu_fraction_of_limit', cpu(s.limit) / cpu(s.agents));
  line('agent_source_peak_rss', s.rss.source, 'MiB');
  line('agent_target_peak_rss', s.rss.target, 'MiB');
  line('dedup_bytes_received', median(s.dedupBytes) / MiB, 'MiB');
  line('dedup_seconds', m.dedup, 's');
  line('dedup_speedup', m.agents / m.dedup, 'x');
  line('push_agent_seconds', m.push, 's');
  line('push_skopeo_seconds', m.skopeo, 's');
  line('push_ratio_vs_skopeo', m.skopeo / m.push, 'x');
  line('transfer_ratio_vs_ctr_no_unpack', m.ctrNoUnpack / m.agents, 'x');
  line('transfer_ratio_vs_ctr', m.ctr / m.agents, 'x');
  line('transfer_fraction_of_limit', m.limit / m.agents);
}

async function main(): Promise<void> {
  const run = Run.create('bench-transfer');
  try {
    const targets = Array.from({ length: RUNS }, (_, i) => `b${i}`);
    const cluster = await startRealCluster(run, ['a', ...targets]);
    const a = cluster.node('a').containerd;
    const img = await buildImage(run, { layers: LAYERS, layerSize: LAYER_BYTES });
    await importToNode(a, img, NAME);
    const img2 = await buildImage(run, {
      layers: LAYERS,
      layerSize: LAYER_BYTES,
      shareBaseLayersWith: img,
      sharedLayers: LAYERS - 1,
    });
    await importToNode(a, img2, NAME2);
    const samples: Samples = {
      ...{ limit: [], ctr: [], ctrNoUnpack: [], agents: [], dedup: [], dedupBytes: [] },
      ...{ push: [], skopeo: [], rss: { source: 0, target: 0 } },
    };
    const start = loadavg()[0] ?? NaN;
    for (let i = 0; i < RUNS; i++) await round({ run, cluster, a, img, img2 }, i, samples);
    report(img, samples, { start, end: loadavg()[0] ?? NaN });
  } finally {
    await run.stop(); // keeps only the logs
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
