import { spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';

/** Root of every run directory. Kept after a run for its logs; `make clean` removes it. */
export const RUNS_ROOT = path.resolve(process.env.TOTE_RUNS_DIR ?? '.tote-runs');

/** Options for {@link Run.spawn}. */
export interface SpawnOptions {
  /** Short unique name: the log is `<run>/logs/<name>.log`. */
  name: string;
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

/** Clean-up registered with {@link Run.onStop}. */
export type StopHook = () => Promise<void>;

/** A process started by a {@link Run}. */
export interface Managed {
  name: string;
  child: ChildProcess;
  logPath: string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (fault injection). */
  kill(): Promise<void>;
}

/**
 * One sandbox run: a temp directory (`.tote-runs/<id>`), the processes started in it and their logs.
 * Every process is recorded in `<run>/pids` so `killLeftovers()` can reap them even if the test process dies.
 */
export class Run {
  readonly dir: string;
  readonly logsDir: string;
  /** When the run was created (ms since the epoch). */
  readonly startedAt = Date.now();
  private readonly managed: Managed[] = [];
  private readonly hooks: { before: StopHook[]; after: StopHook[] } = { before: [], after: [] };
  private stopped = false;

  private constructor(dir: string) {
    this.dir = dir;
    this.logsDir = path.join(dir, 'logs');
    mkdirSync(this.logsDir, { recursive: true });
  }

  /** Creates a fresh run directory under {@link RUNS_ROOT}. */
  static create(label = 'run'): Run {
    mkdirSync(RUNS_ROOT, { recursive: true });
    return new Run(mkdtempSync(path.join(RUNS_ROOT, `${label}-`)));
  }

  /** A sub-directory of the run, created on demand. */
  path(...parts: string[]): string {
    const p = path.join(this.dir, ...parts);
    mkdirSync(p, { recursive: true });
    return p;
  }

  /** Starts a process in its own process group with stdout and stderr sent to its log file. */
  spawn(opts: SpawnOptions): Managed {
    if (this.stopped) throw new Error(`run ${this.dir} is stopped; cannot start ${opts.name}`);
    const logPath = path.join(this.logsDir, `${opts.name}.log`);
    const log = createWriteStream(logPath, { flags: 'a' });
    const child = spawn(opts.cmd, opts.args, {
      cwd: opts.cwd ?? this.dir,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    if (child.pid) appendFileSync(path.join(this.dir, 'pids'), `${child.pid}\n`);
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
      child.once('error', (err) => {
        log.write(`spawn error: ${err.message}\n`);
        resolve('spawn-error');
      });
    });
    const signalGroup = (sig: NodeJS.Signals): void => {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const m: Managed = {
      name: opts.name,
      child,
      logPath,
      exited,
      stop: async (graceMs = 5000) => {
        signalGroup('SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      },
      kill: async () => {
        signalGroup('SIGKILL');
        await exited;
      },
    };
    this.managed.push(m);
    return m;
  }

  /**
   * Registers clean-up for {@link stop}: `before` hooks run (newest first) while every process still runs (e.g.
   * deleting pods through a live kubelet), `after` hooks once all processes are gone (e.g. unmounting what a
   * killed kubelet left). A hook that fails is logged to `logs/harness.log`; the others still run.
   */
  onStop(phase: 'before' | 'after', hook: StopHook): void {
    this.hooks[phase].push(hook);
  }

  private async runHooks(phase: 'before' | 'after'): Promise<void> {
    const hooks = this.hooks[phase].splice(0).reverse();
    for (const hook of hooks) {
      try {
        await hook();
      } catch (err) {
        appendFileSync(
          path.join(this.logsDir, 'harness.log'),
          `stop hook (${phase}) failed: ${String(err)}\n`,
        );
      }
    }
  }

  /** The last `lines` lines of every log, for printing when a test fails. */
  tailLogs(lines = 40): string {
    return readdirSync(this.logsDir)
      .map((f) => {
        const text = readFileSync(path.join(this.logsDir, f), 'utf8').split('\n').slice(-lines).join('\n');
        return `----- ${f} -----\n${text}`;
      })
      .join('\n');
  }

  /**
   * Stops every process (newest first), then deletes everything in the run directory but the logs (fixture
   * images and containerd roots are large), unless TOTE_KEEP_RUNS=1. Safe to call twice.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.runHooks('before');
    for (const m of [...this.managed].reverse()) await m.stop();
    this.managed.length = 0;
    await this.runHooks('after');
    if (process.env.TOTE_KEEP_RUNS === '1' || !existsSync(this.dir)) return;
    for (const entry of readdirSync(this.dir)) {
      if (entry !== 'logs') rmSync(path.join(this.dir, entry), { recursive: true, force: true });
    }
  }

  /** Deletes the run directory (after {@link stop}). Logs are kept unless this is called. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SIGKILLs every process recorded by any run under {@link RUNS_ROOT} (jest globalTeardown, `make clean`). */
export function killLeftovers(): number {
  if (!existsSync(RUNS_ROOT)) return 0;
  let killed = 0;
  for (const d of readdirSync(RUNS_ROOT)) {
    const pids = path.join(RUNS_ROOT, d, 'pids');
    if (!existsSync(pids)) continue;
    for (const pid of readFileSync(pids, 'utf8').split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(-pid, 'SIGKILL');
        killed++;
      } catch {
        // not running
      }
    }
    rmSync(pids, { force: true });
  }
  return killed;
}
