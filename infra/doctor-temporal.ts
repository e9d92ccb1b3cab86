/**
 * `tote doctor`'s Temporal checks: the frontend answers for the namespace, workers poll the task queue (workflow
 * and activity pollers, through DescribeTaskQueue), and tote's search attributes are registered as Keyword.
 */
import { SEARCH_ATTRIBUTES } from '../common/names.js';
import { deadline, errorLine, fail, guard, pass, type CheckResult } from './doctor-report.js';

/** One poller of a task queue. */
export interface Poller {
  identity: string;
  lastAccess?: Date;
}

/** The Temporal calls the checks make. */
export interface TemporalProbe {
  /** Resolves when the namespace exists and the credentials are accepted. */
  describeNamespace(): Promise<void>;
  /** Pollers of the task queue for workflow or activity tasks. */
  pollers(type: 'workflow' | 'activity'): Promise<Poller[]>;
  /** Custom search attributes of the namespace: name → type (`Keyword`, `Text`, …). */
  searchAttributes(): Promise<Record<string, string>>;
}

/** Where the checks look. */
export interface TemporalScope {
  address: string;
  namespace: string;
  taskQueue: string;
}

// temporal.api.enums.v1 values, spelled out so this module needs no direct @temporalio/proto dependency.
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE = { workflow: 1, activity: 2 } as const;
const INDEXED_VALUE_TYPES = ['', 'Text', 'Keyword', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList'];

/** The part of a `@temporalio/client` Connection the probe uses. */
export interface ServiceConnection {
  workflowService: {
    describeNamespace(req: { namespace: string }): Promise<unknown>;
    describeTaskQueue(req: {
      namespace: string;
      taskQueue: { name: string; kind: number };
      taskQueueType: number;
    }): Promise<{
      pollers?: { identity?: string | null; lastAccessTime?: { seconds?: unknown } | null }[] | null;
    }>;
  };
  operatorService: {
    listSearchAttributes(req: { namespace: string }): Promise<{
      customAttributes?: Record<string, number> | null;
    }>;
  };
}

/** A {@link TemporalProbe} over a connection's WorkflowService and OperatorService. */
export function connectionProbe(c: ServiceConnection, s: TemporalScope): TemporalProbe {
  return {
    describeNamespace: async () =>
      void (await c.workflowService.describeNamespace({ namespace: s.namespace })),
    pollers: async (type) => {
      const res = await c.workflowService.describeTaskQueue({
        namespace: s.namespace,
        taskQueue: { name: s.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
        taskQueueType: TASK_QUEUE_TYPE[type],
      });
      return (res.pollers ?? []).map((p) => {
        const secs = Number(p.lastAccessTime?.seconds ?? NaN);
        return {
          identity: p.identity ?? '',
          ...(Number.isFinite(secs) ? { lastAccess: new Date(secs * 1000) } : {}),
        };
      });
    },
    searchAttributes: async () => {
      const res = await c.operatorService.listSearchAttributes({ namespace: s.namespace });
      return Object.fromEntries(
        Object.entries(res.customAttributes ?? {}).map(([k, v]) => [k, INDEXED_VALUE_TYPES[v] ?? String(v)]),
      );
    },
  };
}

function grpcCode(err: unknown): number | undefined {
  const e = (err ?? {}) as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'number' ? e.code : e.cause?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The hint for a Temporal call that failed with `err`. */
export function temporalHint(err: unknown, s: TemporalScope): string {
  const code = grpcCode(err);
  if (code === 5 || /namespace .*not found/i.test(errorLine(err))) {
    return `create the namespace (temporal operator namespace create --namespace ${s.namespace}) or fix --temporal-namespace`;
  }
  if (code === 7 || code === 16) {
    return 'Temporal refused the credentials: check --temporal-api-key-file (or TOTE_TEMPORAL_API_KEY) and --temporal-tls-cert/--temporal-tls-key';
  }
  return 'check --temporal-address (env TOTE_TEMPORAL_ADDRESS) and the --temporal-tls* flags, and that the Temporal frontend is up';
}

/** `temporal`: connects (through `connect`) and describes the namespace; the probe is returned for the rest. */
export async function checkTemporal(
  s: TemporalScope,
  connect: () => Promise<TemporalProbe>,
): Promise<{ result: CheckResult; probe?: TemporalProbe }> {
  try {
    const probe = await connect();
    await probe.describeNamespace();
    return { result: pass('temporal', `${s.address}, namespace ${s.namespace}`), probe };
  } catch (err) {
    return { result: fail('temporal', `${s.address}: ${errorLine(err)}`, temporalHint(err, s)) };
  }
}

function describePollers(ps: Poller[]): string {
  const ids = [...new Set(ps.map((p) => p.identity))];
  return `${ps.length} (${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''})`;
}

/** `task-queue`: at least one worker polls both workflow and activity tasks. */
export async function checkTaskQueue(probe: TemporalProbe, s: TemporalScope): Promise<CheckResult> {
  const [wf, act] = await Promise.all([probe.pollers('workflow'), probe.pollers('activity')]);
  if (wf.length > 0 && act.length > 0) {
    return pass(
      'task-queue',
      `${s.taskQueue}: workflow pollers ${describePollers(wf)}, activity pollers ${act.length}`,
    );
  }
  const none = [wf.length === 0 && 'workflow', act.length === 0 && 'activity'].filter(Boolean).join(' and ');
  return fail(
    'task-queue',
    `nobody polls ${none} tasks on task queue "${s.taskQueue}" in namespace ${s.namespace}`,
    'start the worker (kubectl -n <release namespace> get deploy,pods; logs of the worker) and make sure it uses the same --temporal-namespace and --task-queue',
  );
}

/** `search-attributes`: every tote attribute exists with its type. */
export async function checkSearchAttributes(probe: TemporalProbe, s: TemporalScope): Promise<CheckResult> {
  const have = await probe.searchAttributes();
  const wanted = Object.entries(SEARCH_ATTRIBUTES);
  const missing = wanted.filter(([n]) => !(n in have)).map(([n]) => n);
  const wrong = wanted
    .filter(([n, t]) => n in have && have[n] !== t)
    .map(([n, t]) => `${n} is ${have[n]}, not ${t}`);
  if (missing.length === 0 && wrong.length === 0) {
    return pass('search-attributes', `${wanted.map(([n]) => n).join(', ')} (Keyword)`);
  }
  const names = missing.map((n) => `--name ${n}`).join(' ');
  const create = missing.length
    ? `temporal operator search-attribute create --namespace ${s.namespace} ${names} --type Keyword`
    : '';
  const fix = wrong.length
    ? 'a wrong type cannot be changed: remove the attribute and create it as Keyword'
    : '';
  return fail(
    'search-attributes',
    [missing.length && `missing: ${missing.join(', ')}`, ...wrong].filter(Boolean).join('; '),
    [create, fix].filter(Boolean).join('; ') + ' (docs/operations.md §3)',
  );
}

/** Options of {@link temporalChecks}. */
export interface TemporalChecksOptions {
  scope: TemporalScope;
  /** Opens the connection; closed again before {@link temporalChecks} returns. */
  connect: () => Promise<ServiceConnection & { close(): Promise<void> }>;
  timeoutMs: number;
}

/** `temporal`, then (when it passed) `task-queue` and `search-attributes`, each with a deadline. */
export async function temporalChecks(o: TemporalChecksOptions): Promise<CheckResult[]> {
  const { scope, timeoutMs } = o;
  let conn: (ServiceConnection & { close(): Promise<void> }) | undefined;
  try {
    const opened = checkTemporal(scope, async () => connectionProbe((conn = await o.connect()), scope));
    const t = await deadline(opened, timeoutMs).catch((err: unknown) => {
      // A connection that completes after the deadline must still be closed, or the process never exits.
      void opened.then(() => conn?.close().catch(() => undefined));
      return {
        result: fail('temporal', `${scope.address}: ${errorLine(err)}`, temporalHint(err, scope)),
        probe: undefined,
      };
    });
    const probe = t.probe;
    if (!probe) return [t.result];
    const hint = temporalHint(undefined, scope);
    const rows = await Promise.all([
      guard({ name: 'task-queue', timeoutMs, hint }, () => checkTaskQueue(probe, scope)),
      guard({ name: 'search-attributes', timeoutMs, hint }, () => checkSearchAttributes(probe, scope)),
    ]);
    return [t.result, ...rows.flat()];
  } finally {
    await conn?.close().catch(() => undefined);
  }
}
