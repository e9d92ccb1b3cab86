/**
 * `npm run bench:scale`: fan-out at scale (issue 8). A sandbox of TOTE_BENCH_NODES (default 32) real containerd
 * nodes, each with its tote agent (mTLS), one worker and one controller; the image (TOTE_BENCH_LAYERS x
 * TOTE_BENCH_LAYER_MIB, default 3 x 8 MiB) is cached on node-1 only, and TOTE_BENCH_PODS (default 200) opted-in
 * pods spread over the other nodes fail to pull it. Measured, in the same run, from the first failure reported
 * until every target holds the image (the completion of its last transfer activity, from Temporal's history;
 * `*_closed_*` lines: until every salvage workflow closed, after its record, events and pod restart):
 *  - a single salvage (one pod, one node; the median of TOTE_BENCH_SINGLE_RUNS, default 3, each a new image),
 *  - the fleet with fan-out on (every node that completes serves the others),
 *  - the fleet with fan-out off: the agents of nodes 2..N restart with --max-concurrent-exports=0, so only the
 *    original holder serves.
 * Both fleet runs use the same worker: --max-uploads-per-source=TOTE_BENCH_UPLOADS_PER_SOURCE (default 1) and
 * no worker-wide cap. Prints `name value unit` lines, the number of transfers (SalvageRecords; must equal the
 * distinct target nodes, else the exit code is 1), memory and CPU of the run's processes and the load average;
 * per-node timelines on stderr (TOTE_BENCH_HISTORY=1 adds the first holder's workflow history). Not a test:
 * timings depend on the machine and on whatever else runs on it.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { listImages } from '../test/harness/containerd.js';
import {
  awaitSalvages,
  createPods,
  deletePods,
  failPulls,
  parallel,
  salvageRecordsOf,
  type RecordSummary,
  type SalvageOutcome,
} from '../test/harness/fanout.js';
import { buildImage, importToNode } from '../test/harness/images.js';
import { createNamespace } from '../test/harness/pods.js';
import { startSandbox, type Sandbox } from '../test/harness/sandbox.js';
import { startToteStack, type ToteStack } from '../test/harness/stack.js';
import {
  CPU_KINDS,
  cpuSnapshot,
  cpuUse,
  MemoryWatch,
  sampleMemory,
  type CpuUse,
  type MemorySample,
} from './scale-memory.js';

const MiB = 1 << 20;
const NODES = Number(process.env.TOTE_BENCH_NODES ?? 32);
const PODS = Number(process.env.TOTE_BENCH_PODS ?? 200);
const LAYERS = Number(process.env.TOTE_BENCH_LAYERS ?? 3);
const LAYER_MIB = Number(process.env.TOTE_BENCH_LAYER_MIB ?? 8);
const SINGLE_RUNS = Number(process.env.TOTE_BENCH_SINGLE_RUNS ?? 3);
const UPLOADS_PER_SOURCE = Number(process.env.TOTE_BENCH_UPLOADS_PER_SOURCE ?? 1);
const NS = 'scale';
const TIMEOUT_MS = 3_600_000;

interface Ctx {
  sb: Sandbox;
  kc: KubeConfig;
  stack: ToteStack;
  client: Client;
}

/** What one pass (one image onto `targets`) measured. */
interface Pass {
  /** From the first failure reported until every target held the image (its last transfer completed). */
  seconds: number;
  /** From the first failure reported until every salvage workflow closed (record, events, pod restart too). */
  closedSeconds: number;
  patchSeconds: number;
  targets: number;
  transfers: number;
  /** Transfers served by a node other than the original holder. */
  fromPeers: number;
  /** Longest chain node-1 → a → b …: the transfer rounds one after the other (about log2(targets + 1) ideally). */
  depth: number;
  /** Most transfers served by one node. */
  maxServed: number;
  transferMedianSeconds: number;
  /** Seconds from the first failure reported to the first and the last salvage workflow start. */
  starts: [number, number];
  /** Seconds from the first failure reported to the first salvage closed. */
  firstClose: number;
  cpu: CpuUse;
  load: [number, number];
  complete: boolean;
}

const load1 = (): number => loadavg()[0] ?? NaN;

function line(name: string, value: number, unit: string): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)} ${unit}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function note(what: string): void {
  process.stderr.write(`bench:scale: ${what} (load ${load1().toFixed(1)})\n`);
}

/** Every target's containerd holds the digest (checked after the clock stopped). */
async function allHold(sb: Sandbox, digest: string, targets: string[]): Promise<boolean> {
  const held = await Promise.all(
    targets.map(async (n) => (await listImages(sb.node(n))).some((r) => r.digest === digest)),
  );
  return held.every(Boolean);
}

/** One image on node-1, `pods` failing pods over `targets`; the clock runs from the first failure to the last close. */
async function pass(ctx: Ctx, label: string, targets: string[], pods: number): Promise<Pass> {
  const img = await buildImage(ctx.sb.run, { layers: LAYERS, layerSize: LAYER_MIB * MiB, name: label });
  await importToNode(ctx.sb.node('node-1'), img, `bench.invalid/scale/${label}:1`);
  await ctx.sb.syncNodeImages('node-1');
  const image = `bench.invalid/scale/${label}@${img.digest}`;
  const created = await createPods(ctx.kc, {
    namespace: NS,
    prefix: label,
    image,
    nodes: targets,
    count: pods,
  });
  const nodes = [...new Set(created.map((p) => p.node))];
  const loadStart = load1();
  const cpu0 = cpuSnapshot(ctx.sb.run);
  const t0 = Date.now();
  await failPulls(ctx.kc, NS, created, 32);
  const patchSeconds = (Date.now() - t0) / 1000;
  const outcomes = await awaitSalvages(ctx.client, img.digest, nodes, TIMEOUT_MS);
  const seconds = (Math.max(...outcomes.map((o) => o.heldMs)) - t0) / 1000;
  const closedSeconds = (Math.max(...outcomes.map((o) => o.closeMs)) - t0) / 1000;
  const cpu = cpuUse(cpu0, cpuSnapshot(ctx.sb.run));
  const loadEnd = load1();
  const records = await salvageRecordsOf(ctx.kc, NS, img.digest);
  timeline(label, t0, outcomes, records);
  if (process.env.TOTE_BENCH_HISTORY && outcomes.length > 1) await dumpHistory(ctx.client, outcomes, t0);
  const startOffsets = outcomes.map((o) => (o.startMs - t0) / 1000);
  const complete = await allHold(ctx.sb, img.digest, nodes);
  await deletePods(ctx.kc, NS, created);
  return {
    ...{ seconds, closedSeconds, patchSeconds, targets: nodes.length, transfers: records.length, complete },
    fromPeers: records.filter((r) => r.sourceNode !== 'node-1').length,
    ...tree(records),
    transferMedianSeconds: median(records.map((r) => r.durationSeconds)),
    starts: [Math.min(...startOffsets), Math.max(...startOffsets)],
    firstClose: (Math.min(...outcomes.map((o) => o.closeMs)) - t0) / 1000,
    cpu,
    load: [loadStart, loadEnd],
  };
}

/** TOTE_BENCH_HISTORY=1: the history of the first node to hold the image, on stderr (diagnostics). */
async function dumpHistory(client: Client, outcomes: SalvageOutcome[], t0: number): Promise<void> {
  const first = [...outcomes].sort((a, b) => a.heldMs - b.heldMs)[0];
  if (!first) return;
  const h = await client.workflow.getHandle(first.workflowId).fetchHistory();
  for (const e of h.events ?? []) {
    const ms = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
    const act = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
    note(`history ${((ms - t0) / 1000).toFixed(2)} ${String(e.eventType)} ${act}`);
  }
}

/** Shape of the transfer tree rooted at node-1: its depth, and the most transfers one node served. */
function tree(records: RecordSummary[]): { depth: number; maxServed: number } {
  const source = new Map(records.map((r) => [r.targetNode, r.sourceNode]));
  const depth = (node: string, seen = 0): number => {
    const s = source.get(node);
    return s === undefined || seen > records.length ? 0 : 1 + depth(s, seen + 1);
  };
  const served = new Map<string, number>();
  for (const r of records) served.set(r.sourceNode, (served.get(r.sourceNode) ?? 0) + 1);
  return {
    depth: Math.max(0, ...records.map((r) => depth(r.targetNode))),
    maxServed: Math.max(0, ...served.values()),
  };
}

/** Per node, on stderr: when its salvage started and closed (s after the first failure), and from where. */
function timeline(label: string, t0: number, outcomes: SalvageOutcome[], records: RecordSummary[]): void {
  if (outcomes.length < 2) return;
  const rows = [...outcomes].sort((a, b) => a.heldMs - b.heldMs);
  for (const o of rows) {
    const r = records.find((x) => x.targetNode === o.node);
    const at = (ms: number): string => ((ms - t0) / 1000).toFixed(1).padStart(6);
    note(
      `${label} ${o.node.padEnd(8)} start ${at(o.startMs)} held ${at(o.heldMs)} close ${at(o.closeMs)} from ${r?.sourceNode ?? '?'} (transfer activity ${r?.durationSeconds ?? '?'} s)`,
    );
  }
}

async function singles(ctx: Ctx): Promise<Pass[]> {
  const out: Pass[] = [];
  for (let i = 0; i < SINGLE_RUNS; i++) {
    out.push(await pass(ctx, `single${i}`, [`node-${2 + (i % (NODES - 1))}`], 1));
    const p = out[i];
    note(
      `single salvage ${i + 1}/${SINGLE_RUNS}: held ${p?.seconds.toFixed(2)} s, closed ${p?.closedSeconds.toFixed(2)} s`,
    );
  }
  return out;
}

/** Fan-out off: only node-1 serves (every other agent refuses peers, and says so in HasImage). */
async function onlyOriginServes(stack: ToteStack, targets: string[]): Promise<void> {
  await parallel(targets, 8, (n) => stack.agent(n).restart(['--max-concurrent-exports=0']));
}

function printPass(prefix: string, p: Pass, single: Pick<Pass, 'seconds' | 'closedSeconds'>): void {
  line(`${prefix}_total_seconds`, p.seconds, 's');
  line(`${prefix}_total_vs_single`, p.seconds / single.seconds, 'ratio');
  line(`${prefix}_all_closed_seconds`, p.closedSeconds, 's');
  line(`${prefix}_closed_vs_single_closed`, p.closedSeconds / single.closedSeconds, 'ratio');
  line(`${prefix}_transfers`, p.transfers, 'count');
  line(`${prefix}_transfers_from_peers`, p.fromPeers, 'count');
  line(`${prefix}_tree_depth`, p.depth, 'rounds');
  line(`${prefix}_max_served_by_one_node`, p.maxServed, 'count');
  line(`${prefix}_transfer_activity_median_seconds`, p.transferMedianSeconds, 's');
  line(`${prefix}_fail_reporting_seconds`, p.patchSeconds, 's');
  line(`${prefix}_first_workflow_start_seconds`, p.starts[0], 's');
  line(`${prefix}_last_workflow_start_seconds`, p.starts[1], 's');
  line(`${prefix}_first_close_seconds`, p.firstClose, 's');
  for (const k of CPU_KINDS) line(`${prefix}_cpu_${k}_seconds`, p.cpu[k], 's');
  line(`${prefix}_machine_busy_share`, p.cpu.machineBusyShare, 'ratio');
  line(`${prefix}_loadavg1_start`, p.load[0], 'load');
  line(`${prefix}_loadavg1_end`, p.load[1], 'load');
}

function printMemory(idle: MemorySample, watch: MemoryWatch): void {
  const { peak } = watch;
  line('rss_idle_total_mib', idle.total, 'MiB');
  line('rss_peak_total_mib', peak.total, 'MiB');
  line('rss_peak_containerd_mib', peak.containerd, 'MiB');
  line('rss_peak_agents_mib', peak.agents, 'MiB');
  line('rss_peak_per_agent_mib', peak.agents / Math.max(1, peak.counts.agents), 'MiB');
  line('rss_peak_other_mib', peak.other, 'MiB');
  line('mem_available_min_mib', watch.minAvailable, 'MiB');
}

/** CPU the run's own processes use while nothing happens, as a share of the machine's CPUs. */
async function idleCpuShare(ctx: Ctx, seconds = 5): Promise<number> {
  const a = cpuSnapshot(ctx.sb.run);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const u = cpuUse(a, cpuSnapshot(ctx.sb.run));
  return CPU_KINDS.reduce((sum, k) => sum + u[k], 0) / (seconds * availableParallelism());
}

async function measure(ctx: Ctx, targets: string[]): Promise<boolean> {
  const idle = sampleMemory(ctx.sb.run);
  line('idle_cpu_share_of_machine', await idleCpuShare(ctx), 'ratio');
  const watch = new MemoryWatch(ctx.sb.run).start();
  const singleRuns = await singles(ctx);
  const single = {
    seconds: median(singleRuns.map((p) => p.seconds)),
    closedSeconds: median(singleRuns.map((p) => p.closedSeconds)),
  };
  const fanout = await pass(ctx, 'fanout', targets, PODS);
  note(
    `fan-out: ${fanout.seconds.toFixed(1)} s, ${fanout.transfers} transfers, ${fanout.fromPeers} from peers`,
  );
  await onlyOriginServes(ctx.stack, targets);
  const linear = await pass(ctx, 'linear', targets, PODS);
  note(`fan-out off: ${linear.seconds.toFixed(1)} s, ${linear.transfers} transfers`);
  watch.stop();
  line('nodes', NODES, 'count');
  line('pods', PODS, 'count');
  line('image_size_mib', LAYERS * LAYER_MIB, 'MiB');
  line('uploads_per_source', UPLOADS_PER_SOURCE, 'count');
  line('single_seconds', single.seconds, 's');
  line('single_closed_seconds', single.closedSeconds, 's');
  printPass('fanout', fanout, single);
  printPass('linear', linear, single);
  line('transfers', fanout.transfers, 'count');
  line('distinct_target_nodes', fanout.targets, 'count');
  printMemory(idle, watch);
  line('cpus', availableParallelism(), 'count');
  return [fanout, linear].every((p) => p.complete && p.transfers === p.targets);
}

async function main(): Promise<void> {
  const sb = await startSandbox({ label: 'bench-scale', nodes: NODES, registry: false });
  let connection: Connection | undefined;
  try {
    note(`sandbox of ${NODES} nodes up in ${(sb.startupMs / 1000).toFixed(1)} s`);
    const kc = sb.kube.kubeConfig();
    const stack = await startToteStack(sb, {
      workerArgs: [`--max-uploads-per-source=${UPLOADS_PER_SOURCE}`, '--max-concurrent-salvages=0'],
    });
    await createNamespace(kc, NS, { 'tote.dev/allow': 'true' });
    connection = await Connection.connect({ address: sb.temporal.address });
    const client = new Client({ connection, namespace: sb.temporal.namespace });
    note(`tote stack up; run directory ${sb.run.dir}`);
    const targets = sb.nodes.map((n) => n.name).filter((n) => n !== 'node-1');
    if (!(await measure({ sb, kc, stack, client }, targets))) {
      process.stderr.write('bench:scale: transfers differ from target nodes, or a target lacks the image\n');
      process.exitCode = 1;
    }
  } catch (err) {
    process.stderr.write(`${sb.run.tailLogs(30)}\n`);
    throw err;
  } finally {
    await connection?.close();
    await sb.stop();
  }
}

await main();
