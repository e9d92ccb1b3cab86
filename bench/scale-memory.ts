/**
 * Memory of a benchmark run: the resident set of every process the run started (its `pids` file), grouped by
 * kind (containerd, agents, the rest), sampled in the background so the peak is seen, plus MemAvailable.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Run } from '../test/harness/run.js';

/** RSS in MiB by kind of process. */
export interface MemorySample {
  containerd: number;
  agents: number;
  other: number;
  total: number;
  /** MemAvailable of the machine, MiB. */
  available: number;
  /** Processes counted per kind. */
  counts: { containerd: number; agents: number; other: number };
}

function procField(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined; // exited
  }
}

function kindOf(cmdline: string): 'containerd' | 'agents' | 'other' {
  const argv = cmdline.split('\0');
  if (argv.includes('agent')) return 'agents';
  if ((argv[0] ?? '').endsWith('containerd')) return 'containerd';
  return 'other';
}

function memAvailableMiB(): number {
  const line = readFileSync('/proc/meminfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('MemAvailable:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) / 1024;
}

/** One sample of the run's processes. */
export function sampleMemory(run: Run): MemorySample {
  const s: MemorySample = {
    ...{ containerd: 0, agents: 0, other: 0, total: 0, available: memAvailableMiB() },
    counts: { containerd: 0, agents: 0, other: 0 },
  };
  const file = path.join(run.dir, 'pids');
  const pids = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
  for (const pid of new Set(pids)) {
    const status = procField(pid, 'status');
    const cmdline = procField(pid, 'cmdline');
    if (!status || !cmdline) continue;
    const rss = Number(/VmRSS:\s*(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    const kind = kindOf(cmdline);
    s[kind] += rss;
    s.counts[kind]++;
    s.total += rss;
  }
  return s;
}

/** Samples every `everyMs` until stopped; keeps the sample with the highest total and the lowest MemAvailable. */
export class MemoryWatch {
  peak: MemorySample;
  minAvailable: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly run: Run) {
    this.peak = sampleMemory(run);
    this.minAvailable = this.peak.available;
  }

  /** Starts sampling every `everyMs`. */
  start(everyMs = 2_000): this {
    this.timer ??= setInterval(() => this.take(), everyMs);
    return this;
  }

  private take(): void {
    const s = sampleMemory(this.run);
    if (s.total > this.peak.total) this.peak = s;
    this.minAvailable = Math.min(this.minAvailable, s.available);
  }

  /** Stops sampling (after one last sample). */
  stop(): void {
    this.take();
    clearInterval(this.timer);
  }
}

/** Kinds of process whose CPU is reported apart. */
export const CPU_KINDS = [
  'agents',
  'containerd',
  'worker',
  'controller',
  'temporal',
  'kube',
  'other',
] as const;
/** One of {@link CPU_KINDS}. */
export type CpuKind = (typeof CPU_KINDS)[number];

function cpuKindOf(cmdline: string): CpuKind {
  const argv = cmdline.split('\0');
  const exe = path.basename(argv[0] ?? '');
  if (argv.includes('agent')) return 'agents';
  if (argv.includes('worker')) return 'worker';
  if (argv.includes('controller')) return 'controller';
  if (exe === 'containerd') return 'containerd';
  if (exe === 'temporal') return 'temporal';
  if (exe === 'kube-apiserver' || exe === 'etcd') return 'kube';
  return 'other';
}

/** CPU seconds (user + system) of the run's processes by pid, and of the whole machine. */
export interface CpuSnapshot {
  byPid: Map<number, { kind: CpuKind; seconds: number }>;
  /** Whole machine from /proc/stat: busy and total seconds summed over every CPU. */
  machineBusy: number;
  machineTotal: number;
}

/** CPU seconds used between two snapshots by kind, and the busy share of the whole machine (0..1). */
export type CpuUse = Record<CpuKind, number> & { machineBusyShare: number };

const TICKS = 100; // USER_HZ on Linux

function machineTicks(): { busy: number; total: number } {
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, total };
}

/** A CPU snapshot of the run's processes and of the machine. */
export function cpuSnapshot(run: Run): CpuSnapshot {
  const byPid: CpuSnapshot['byPid'] = new Map();
  const file = path.join(run.dir, 'pids');
  const pids = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
  for (const pid of new Set(pids)) {
    const stat = procField(pid, 'stat');
    const cmdline = procField(pid, 'cmdline');
    if (!stat || !cmdline) continue;
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(rest[11]) + Number(rest[12])) / TICKS;
    byPid.set(pid, { kind: cpuKindOf(cmdline), seconds });
  }
  const m = machineTicks();
  return { byPid, machineBusy: m.busy / TICKS, machineTotal: m.total / TICKS };
}

/** CPU seconds used by kind between `a` and `b` (processes started in between count from zero). */
export function cpuUse(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const use = Object.fromEntries(CPU_KINDS.map((k) => [k, 0])) as CpuUse;
  for (const [pid, after] of b.byPid) use[after.kind] += after.seconds - (a.byPid.get(pid)?.seconds ?? 0);
  const total = b.machineTotal - a.machineTotal;
  use.machineBusyShare = total > 0 ? (b.machineBusy - a.machineBusy) / total : NaN;
  return use;
}
