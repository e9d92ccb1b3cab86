/**
 * `npm run bench:scale`: fan-out at scale (issue 8). A sandbox of TOTE_BENCH_NODES (default 32) real containerd
 * nodes, each with its tote agent (mTLS), one worker and one controller; the image (TOTE_BENCH_LAYERS x
 * TOTE_BENCH_LAYER_MIB, default 2 x 8 MiB) is cached on node-1 only, and TOTE_BENCH_PODS (default 200) opted-in
 * pods spread over the other nodes fail to pull it. Measured, in the same run, from the first failure reported
 * until every target holds the image (the completion of its last transfer activity, from Temporal's history;
 * `*_closed_*` lines: until every salvage workflow closed, after its record, events and pod restart):
 *  - a single salvage (one pod, one node; the median of TOTE_BENCH_SINGLE_RUNS, default 3, each a new image),
 *  - the fleet with fan-out on (every node that completes serves the others),
 *  - the fleet with fan-out off: the agents of nodes 2..N restart with --max-concurrent-exports=0, so only the
 *    original holder serves.
 * Both fleet runs use the same worker: --max-uploads-per-source=TOTE_BENCH_UPLOADS_PER_SOURCE (default 1) and
 * no worker-wide cap.
 *
 * What is modelled. On a real cluster every node has its own CPU and NIC, so a transfer is bounded by the link of
 * the node that serves it and fan-out multiplies the fleet's bandwidth with every node that completes. Here all
 * the simulated nodes share this machine's few cores: unthrottled, parallel transfers are CPU-bound, so a round
 * of 16 transfers takes about 16 times one transfer and fan-out cannot show. The main run therefore gives every
 * agent the same --max-upload-rate=TOTE_BENCH_NODE_RATE (default 2Mi, i.e. 2 MiB/s): each node's uplink. The
 * default is chosen so that the 16 transfers of the last fan-out round stay within the CPU: one transfer costs
 * about 25 ms of CPU per MiB over both agents and both containerds (measured on the 2-core sandbox, mTLS), so 16
 * at 2 MiB/s need about 0.8 of a core, leaving the rest to Temporal, the worker, the controller and the
 * apiserver. Only uploads are modelled (a node's downlink, disk and CPU are not), and the single transfer that
 * the ratios divide by runs in the same run with the same rate. The same passes then run again with every agent
 * unlimited (`*_unlimited` lines; TOTE_BENCH_UNLIMITED=0 skips them): the CPU-bound figures of this machine.
 * At the defaults the whole bench takes about 12 minutes, most of it the fan-out-off pass with modelled links
 * (31 transfers of 16 MiB one after the other at 2 MiB/s).
 *
 * Prints `name value unit` lines, the number of transfers (SalvageRecords; must equal the distinct target nodes,
 * else the exit code is 1), memory and CPU of the run's processes and the load average; per-node timelines on
 * stderr (TOTE_BENCH_HISTORY=1 adds the first holder's workflow history). Not a test: timings depend on the
 * machine and on whatever else runs on it.
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
import { parseSize } from '../workers/agent-config.js';
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
const LAYERS = Number(process.env.TOTE_BENCH_LAYERS ?? 2);
const LAYER_MIB = Number(process.env.TOTE_BENCH_LAYER_MIB ?? 8);
const SINGLE_RUNS = Number(process.env.TOTE_BENCH_SINGLE_RUNS ?? 3);
const UPLOADS_PER_SOURCE = Number(process.env.TOTE_BENCH_UPLOADS_PER_SOURCE ?? 1);
/** Each node's modelled uplink, as the agents' --max-upload-rate (a size per second; 0: unlimited). */
const NODE_RATE = process.env.TOTE_BENCH_NODE_RATE ?? '2Mi';
// Validated before anything starts (the agents would refuse a bad value anyway, after the sandbox is up).
const NODE_RATE_BYTES = parseSize('maxUploadRate', NODE_RATE, 0, 2 ** 50);
const UNLIMITED = process.env.TOTE_BENCH_UNLIMITED !== '0';
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

async function singles(ctx: Ctx, tag: string): Promise<Pass[]> {
  const out: Pass[] = [];
  for (let i = 0; i < SINGLE_RUNS; i++) {
    out.push(await pass(ctx, `single${tag}${i}`, [`node-${2 + (i % (NODES - 1))}`], 1));
    const p = out[i];
    note(
      `single salvage ${i + 1}/${SINGLE_RUNS}: held ${p?.seconds.toFixed(2)} s, closed ${p?.closedSeconds.toFixed(2)} s`,
    );
  }
  return out;
}

/** Fan-out off: only node-1 serves (every other agent refuses peers, and says so in HasImage). */
async function onlyOriginServes(stack: ToteStack, targets: string[], rate: string): Promise<void> {
  await parallel(targets, 8, (n) =>
    stack.agent(n).restart([`--max-upload-rate=${rate}`, '--max-concurrent-exports=0']),
  );
}

/** Every agent serves again, each with `rate` as its uplink. */
async function everyNodeServes(stack: ToteStack, rate: string): Promise<void> {
  await parallel(stack.agents, 8, (a) => a.restart([`--max-upload-rate=${rate}`]));
}

/** One pass's lines: `<prefix>_<figure><suffix>` (suffix `_unlimited` for the run without modelled links). */
function printPass(
  prefix: string,
  p: Pass,
  single: Pick<Pass, 'seconds' | 'closedSeconds'>,
  suffix = '',
): void {
  const out = (name: string, value: number, unit: string): void =>
    line(`${prefix}_${name}${suffix}`, value, unit);
  out('total_seconds', p.seconds, 's');
  out('total_vs_single', p.seconds / single.seconds, 'ratio');
  out('all_closed_seconds', p.closedSeconds, 's');
  out('closed_vs_single_closed', p.closedSeconds / single.closedSeconds, 'ratio');
  out('transfers', p.transfers, 'count');
  out('transfers_from_peers', p.fromPeers, 'count');
  out('tree_depth', p.depth, 'rounds');
  out('max_served_by_one_node', p.maxServed, 'count');
  out('transfer_activity_median_seconds', p.transferMedianSeconds, 's');
  out('fail_reporting_seconds', p.patchSeconds, 's');
  out('first_workflow_start_seconds', p.starts[0], 's');
  out('last_workflow_start_seconds', p.starts[1], 's');
  out('first_close_seconds', p.firstClose, 's');
  for (const k of CPU_KINDS) out(`cpu_${k}_seconds`, p.cpu[k], 's');
  out('machine_busy_share', p.cpu.machineBusyShare, 'ratio');
  out('loadavg1_start', p.load[0], 'load');
  out('loadavg1_end', p.load[1], 'load');
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

/** Single salvages, then the fleet with fan-out on and off, every agent serving at `rate`. */
interface Phase {
  single: Pick<Pass, 'seconds' | 'closedSeconds'>;
  fanout: Pass;
  linear: Pass;
}

async function phase(ctx: Ctx, targets: string[], rate: string, tag: string): Promise<Phase> {
  const singleRuns = await singles(ctx, tag);
  const single = {
    seconds: median(singleRuns.map((p) => p.seconds)),
    closedSeconds: median(singleRuns.map((p) => p.closedSeconds)),
  };
  const fanout = await pass(ctx, `fanout${tag}`, targets, PODS);
  note(
    `fan-out (upload rate ${rate}): ${fanout.seconds.toFixed(1)} s, ${fanout.transfers} transfers, ${fanout.fromPeers} from peers`,
  );
  await onlyOriginServes(ctx.stack, targets, rate);
  const linear = await pass(ctx, `linear${tag}`, targets, PODS);
  note(`fan-out off (upload rate ${rate}): ${linear.seconds.toFixed(1)} s, ${linear.transfers} transfers`);
  return { single, fanout, linear };
}

function printPhase(ph: Phase, suffix: string): void {
  line(`single_seconds${suffix}`, ph.single.seconds, 's');
  line(`single_closed_seconds${suffix}`, ph.single.closedSeconds, 's');
  printPass('fanout', ph.fanout, ph.single, suffix);
  printPass('linear', ph.linear, ph.single, suffix);
}

async function measure(ctx: Ctx, targets: string[]): Promise<boolean> {
  const t0 = Date.now();
  const idle = sampleMemory(ctx.sb.run);
  line('idle_cpu_share_of_machine', await idleCpuShare(ctx), 'ratio');
  const watch = new MemoryWatch(ctx.sb.run).start();
  const modelled = await phase(ctx, targets, NODE_RATE, '');
  let unlimited: Phase | undefined;
  if (UNLIMITED) {
    await everyNodeServes(ctx.stack, '0');
    unlimited = await phase(ctx, targets, '0', 'u');
  }
  watch.stop();
  line('nodes', NODES, 'count');
  line('pods', PODS, 'count');
  line('image_size_mib', LAYERS * LAYER_MIB, 'MiB');
  line('uploads_per_source', UPLOADS_PER_SOURCE, 'count');
  line('node_upload_rate_mib_s', NODE_RATE_BYTES / MiB, 'MiB/s');
  printPhase(modelled, '');
  line('transfers', modelled.fanout.transfers, 'count');
  line('distinct_target_nodes', modelled.fanout.targets, 'count');
  if (unlimited) {
    printPhase(unlimited, '_unlimited');
    line('transfers_unlimited', unlimited.fanout.transfers, 'count');
  }
  printMemory(idle, watch);
  line('cpus', availableParallelism(), 'count');
  line('measure_wall_seconds', (Date.now() - t0) / 1000, 's');
  const passes = [modelled, unlimited].flatMap((ph) => (ph ? [ph.fanout, ph.linear] : []));
  return passes.every((p) => p.complete && p.transfers === p.targets);
}

async function main(): Promise<void> {
  const sb = await startSandbox({ label: 'bench-scale', nodes: NODES, registry: false });
  let connection: Connection | undefined;
  try {
    note(`sandbox of ${NODES} nodes up in ${(sb.startupMs / 1000).toFixed(1)} s`);
    const kc = sb.kube.kubeConfig();
    const stack = await startToteStack(sb, {
      // Each node's modelled uplink (see the header).
      agentArgs: [`--max-upload-rate=${NODE_RATE}`],
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
