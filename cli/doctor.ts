/**
 * `tote doctor`: a health report of an installation. A table for humans (colours only on a terminal, and not
 * with NO_COLOR), `{ healthy, checks }` with `--json`. Exit code 0 when healthy, 1 when a check failed, 2 for a
 * bad command line. Every failed check carries a hint saying what to do next.
 */
import { CommanderError, type Command } from 'commander';
import type { CheckResult, DoctorReport } from '../infra/doctor-report.js';
import {
  DOCTOR_BOOLEAN_FLAGS,
  DOCTOR_FLAGS,
  DoctorConfigError,
  doctorEnvName,
  inheritWorkerFlags,
  parseDoctorConfig,
  readMainProcessArgv,
  runDoctor,
  type DoctorFlag,
  type RawDoctorFlags,
} from '../workers/doctor.js';
import { UserError } from './errors.js';

/** How the report is drawn. */
export interface RenderOptions {
  /** ANSI colours (a TTY without NO_COLOR). */
  color: boolean;
}

const COLORS: Record<CheckResult['status'], number> = { pass: 32, warn: 33, fail: 31 };
const WORDS: Record<CheckResult['status'], string> = { pass: 'ok', warn: 'warn', fail: 'FAIL' };

/** The human report: one line per check, the hint under every warning and failure, and a verdict. */
export function renderReport(report: DoctorReport, opts: RenderOptions): string {
  const paint = (code: number, s: string): string => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const nameWidth = Math.max(5, ...report.checks.map((c) => c.name.length));
  const lines = [paint(1, `${'CHECK'.padEnd(nameWidth)}  STATUS  DETAIL`)];
  for (const c of report.checks) {
    const status = paint(COLORS[c.status], WORDS[c.status].padEnd(6));
    lines.push(`${c.name.padEnd(nameWidth)}  ${status}  ${c.detail}`);
    if (c.hint) lines.push(`${' '.repeat(nameWidth + 10)}${paint(2, `→ ${c.hint}`)}`);
  }
  const count = (s: CheckResult['status']): number => report.checks.filter((c) => c.status === s).length;
  const [passed, warned, failed] = [count('pass'), count('warn'), count('fail')];
  const tally = `${passed} passed, ${warned} warning${warned === 1 ? '' : 's'}, ${failed} failed`;
  lines.push(
    '',
    report.healthy ? paint(COLORS.pass, `healthy (${tally})`) : paint(COLORS.fail, `NOT healthy (${tally})`),
  );
  return `${lines.join('\n')}\n`;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Registers `tote doctor`. */
export function registerDoctor(program: Command): void {
  const cmd = program
    .command('doctor')
    .description(
      'Check an installation: Kubernetes access and RBAC, the CRD, controller, worker and agents (mTLS), ' +
        'Temporal and its task queue, search attributes, opted-in namespaces. Inside the worker pod it uses ' +
        "the worker's own flags.",
    )
    .option('--json', 'print { healthy, checks } as JSON');
  for (const key of Object.keys(DOCTOR_FLAGS) as DoctorFlag[]) {
    const [flag, def, help] = DOCTOR_FLAGS[key];
    const arg = DOCTOR_BOOLEAN_FLAGS.includes(key) ? ' [bool]' : ' <value>';
    cmd.option(
      `${flag}${arg}`,
      `${help}; env ${doctorEnvName(key)}${def === undefined ? '' : ` (default: ${def})`}`,
    );
  }
  // A wrong command line is exit code 2, so that 1 always means "unhealthy".
  cmd.exitOverride((err) => {
    throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message);
  });
  cmd.action(async (opts: RawDoctorFlags & { json?: boolean }) => {
    const { json, ...flags } = opts;
    let cfg;
    try {
      const inherited = inheritWorkerFlags(readMainProcessArgv()) ?? {};
      cfg = parseDoctorConfig(stripUndefined(flags), process.env, inherited);
    } catch (err) {
      if (err instanceof DoctorConfigError) throw new UserError(err.message, 2);
      throw err;
    }
    const report = await runDoctor(cfg, process.env);
    const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report, { color }));
    const failed = report.checks.filter((c) => !c.ok).length;
    if (!report.healthy)
      throw new UserError(`unhealthy: ${failed} of ${report.checks.length} checks failed`, 1);
  });
}
