/**
 * Shared Temporal test plumbing for the workflow tests and the replay test: a local dev server from the sandbox's
 * own `temporal` binary (never a download), with tote's search attributes registered, and one workflow bundle.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundle } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../../workflows/search-attributes.js';
import { toolPath } from '../harness/tools.js';

/** `workflows/index.ts`: the worker's workflowsPath. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

/** Where recorded histories live. */
export const HISTORIES_DIR = fileURLToPath(new URL('./histories', import.meta.url));

let runtimeInstalled = false;

/** One SDK log line (worker, activity and workflow `log` calls), as `captureSdkLogs` collects it. */
export interface SdkLogEntry {
  level: LogLevel;
  message: string;
  meta?: LogMetadata;
}

/** Where SDK log lines go while `captureSdkLogs` runs; the console (at WARN and above) otherwise. */
let capture: SdkLogEntry[] | undefined;

/** The Runtime's logger: WARN and above to the console, or everything to `capture` while one is open. */
class TestLogger implements Logger {
  private readonly console = new DefaultLogger('WARN');
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (capture) capture.push({ level, message, ...(meta ? { meta } : {}) });
    else this.console.log(level, message, meta);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/** Keeps SDK logs at WARN so test output stays readable (docs/conventions.md, tests). */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new TestLogger() });
  } catch {
    // Already installed by another module in this Jest worker.
  }
}

/**
 * Runs `fn` with the SDK's log lines collected instead of printed, and hands them back: for a test that expects
 * failures (an activity that throws, a workflow that fails), whose WARN lines would otherwise flood the output.
 * The lines come from the Runtime installed by `quietRuntime`; tests in a file run one at a time, so one capture
 * is open at a time.
 */
export async function captureSdkLogs<T>(fn: () => Promise<T>): Promise<{ out: T; logs: SdkLogEntry[] }> {
  const logs: SdkLogEntry[] = [];
  const outer = capture;
  capture = logs;
  try {
    return { out: await fn(), logs };
  } finally {
    capture = outer;
  }
}

/**
 * How early the dev server may fire a timer (a workflow timer or an activity retry's back-off) when the workflow
 * unit tests ask for prompt timers. The server's default (`history.timerProcessorMaxTimeShift`, 1 s) floors every
 * timer at about a second, whatever its length; the fast-retries interceptor's back-offs are shorter than that.
 */
const PROMPT_TIMER_SHIFT = '10ms';

/** Options of {@link startTestEnv}. */
export interface TestEnvOptions {
  /** Fire timers and retry back-offs on time, even the ones shorter than a second (see PROMPT_TIMER_SHIFT). */
  promptTimers?: boolean;
}

/** Starts a dev server (`temporal server start-dev`) with tote's search attributes. */
export async function startTestEnv(opts: TestEnvOptions = {}): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: toolPath('temporal') },
      searchAttributes: ALL_SEARCH_ATTRIBUTE_KEYS,
      ...(opts.promptTimers
        ? {
            extraArgs: [
              '--dynamic-config-value',
              `history.timerProcessorMaxTimeShift=${JSON.stringify(PROMPT_TIMER_SHIFT)}`,
            ],
          }
        : {}),
    },
  });
}

/**
 * Bundles the workflows once per test file (about a second); pass as `workflowBundle`. `interceptorModules`
 * (paths) are bundled as workflow interceptors: the replay test bundles none, so it replays the production code.
 */
export async function bundleWorkflows(interceptorModules: string[] = []): Promise<WorkflowBundle> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: interceptorModules,
    logger: new DefaultLogger('WARN'),
  });
  return { code };
}

/** Whether this run records histories (TOTE_RECORD_HISTORIES=1): see `maybeRecordHistory`. */
export function recordingHistories(): boolean {
  return process.env.TOTE_RECORD_HISTORIES === '1';
}

/** The workflow execution a history is recorded from. */
export interface RecordedExecution {
  /** `host:port` of the test server (`TestWorkflowEnvironment.address`). */
  address: string;
  workflowId: string;
  runId?: string;
}

/**
 * Writes a history under test/replay/histories when TOTE_RECORD_HISTORIES=1 (run the workflow tests with it after
 * a workflow changes shape, then commit the files: the replay test guards them). The `temporal` CLI exports it,
 * in the same JSON the Web UI downloads.
 */
export async function maybeRecordHistory(name: string, exec: RecordedExecution): Promise<void> {
  if (!recordingHistories()) return;
  const args = [
    'workflow',
    'show',
    '--address',
    exec.address,
    '--workflow-id',
    exec.workflowId,
    '--output',
    'json',
  ];
  if (exec.runId) args.push('--run-id', exec.runId);
  const { stdout } = await promisify(execFile)(toolPath('temporal'), args, { maxBuffer: 32 << 20 });
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), stdout);
}
