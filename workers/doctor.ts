/**
 * Composition root of `tote doctor`: creates the Kubernetes, Temporal and agent clients, runs every check of
 * infra/doctor-*.ts with a deadline (Kubernetes and Temporal side by side), closes the clients and returns the
 * report. Checks that depend on a failed one (everything Kubernetes after `kube-access`, the task queue and
 * search attributes after `temporal`) are left out: their rows would only repeat the same cause.
 */
import { readFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import { AgentClient } from '../infra/agent-client.js';
import { readBuildInfo } from '../infra/build-info.js';
import {
  agentsFromNodes,
  agentsFromPods,
  agentsSummary,
  checkAgent,
  checkHealthUrl,
  fetchProbe,
  type AgentDial,
  type AgentTarget,
  type HttpProbe,
  type Probe,
} from '../infra/doctor-agents.js';
import {
  checkCrd,
  checkKubeAccess,
  checkNamespaces,
  KUBE_HINT,
  listWorkloads,
  releaseSelector,
  workloadCheck,
  type KubeReader,
  type Workload,
  type WorkloadScope,
} from '../infra/doctor-kube.js';
import { checkRbac, type Subject } from '../infra/doctor-rbac.js';
import {
  deadline,
  errorLine,
  fail,
  guard,
  toReport,
  warn,
  type CheckResult,
  type DoctorReport,
} from '../infra/doctor-report.js';
import { temporalChecks, type ServiceConnection } from '../infra/doctor-temporal.js';
import { checkVersions, fetchText, versionTargets, type TextFetch } from '../infra/doctor-versions.js';
import { loadKubeHttp } from '../infra/kube-http.js';
import type { AgentDialOptions } from './agent-port.js';
import type { DoctorConfig } from './doctor-config.js';

export {
  DOCTOR_BOOLEAN_FLAGS,
  DOCTOR_FLAGS,
  DoctorConfigError,
  doctorEnvName,
  inheritWorkerFlags,
  parseDoctorConfig,
} from './doctor-config.js';
export type { DoctorConfig, DoctorFlag, RawDoctorFlags } from './doctor-config.js';

/** The clients doctor uses; tests pass fakes, {@link runDoctor} builds the real ones for what is missing. */
export interface DoctorDeps {
  kube?: KubeReader & { close?(): void };
  connectTemporal?: () => Promise<ServiceConnection & { close(): Promise<void> }>;
  dial?: AgentDial;
  probe?: HttpProbe;
  /** Reads a component's /metrics (for `tote_build_info`). */
  fetchText?: TextFetch;
  /** Doctor's own version. @default package.json's */
  version?: string;
}

/** The command line of the container's main process: the worker's flags when doctor runs in its pod. */
export function readMainProcessArgv(file = '/proc/1/cmdline'): string[] {
  try {
    return readFileSync(file, 'utf8').split('\0').filter(Boolean);
  } catch {
    return []; // not Linux, or hidden /proc: nothing to inherit
  }
}

function agentDialer(opts: AgentDialOptions, timeoutMs: number): AgentDial {
  return async (address) => {
    const client = new AgentClient({ ...opts, address, deadlineMs: timeoutMs });
    try {
      return (await client.listImages()).images.length;
    } finally {
      client.close();
    }
  };
}

interface Ctx {
  cfg: DoctorConfig;
  kube: KubeReader;
  probe: HttpProbe;
  dial?: AgentDial;
  scope: WorkloadScope;
  /** The release's workloads, or why they could not be listed (undefined: not needed). */
  workloads?: Workload[] | Error;
}

function componentRow(ctx: Ctx, component: 'controller' | 'worker', url?: string): Promise<CheckResult[]> {
  const hint = `is the ${component} running? Its /readyz lists the conditions that are false`;
  if (url)
    return guard({ name: component, timeoutMs: ctx.cfg.timeoutMs, hint }, () =>
      checkHealthUrl(component, url, ctx.probe),
    );
  return Promise.resolve([workloadRow(ctx, component)]);
}

function workloadRow(ctx: Ctx, component: string): CheckResult {
  const w = ctx.workloads;
  if (w instanceof Error || w === undefined) {
    const why = w ? errorLine(w) : 'not looked up';
    return fail(
      component,
      `cannot list the release's workloads in ${ctx.scope.namespace}: ${why}`,
      'check rbac/worker above, and --agent-namespace',
    );
  }
  const kind = component === 'agents' ? 'DaemonSet' : 'Deployment';
  const label = component === 'agents' ? 'agent' : component;
  return workloadCheck(
    component,
    w.find((x) => x.kind === kind && x.component === label),
    ctx.scope,
  );
}

function agentHint(ctx: Ctx, node: string): string {
  if (ctx.cfg.agents.endpointTemplate) return `check the agent on ${node}: its process or pod, and its log`;
  const { namespace, selector } = ctx.cfg.agents;
  return `kubectl -n ${namespace} get pods -l ${selector} -o wide --field-selector spec.nodeName=${node}, then that pod's log`;
}

async function agentRows(ctx: Ctx): Promise<CheckResult[]> {
  const { agents, timeoutMs } = ctx.cfg;
  let targets: AgentTarget[];
  const health = new Map<string, Probe>();
  let summary: CheckResult;
  if (agents.endpointTemplate) {
    targets = await agentsFromNodes(ctx.kube, {
      endpoint: agents.endpointTemplate,
      health: agents.healthTemplate,
    });
    const probed = await Promise.all(
      targets.map(async (t) => (t.healthUrl ? ([t.node, await ctx.probe(t.healthUrl)] as const) : undefined)),
    );
    for (const p of probed) if (p) health.set(p[0], p[1]);
    summary = agentsSummary(targets, health);
  } else {
    summary = workloadRow(ctx, 'agents');
    targets = await agentsFromPods(ctx.kube, {
      namespace: agents.namespace,
      selector: agents.selector,
      port: agents.port,
    });
  }
  const dial = ctx.dial;
  if (!dial) {
    const how = `pass --tls-cert, --tls-key and --tls-ca (the worker's, from the chart's tls Secret), or run inside the worker pod: kubectl exec deploy/<release>-worker -- tote doctor`;
    return [summary, fail('agents-mtls', `${targets.length} agents not checked: no client certificate`, how)];
  }
  const plaintext = agents.dial?.insecure === true;
  const rows = await Promise.all(
    targets.map((t) =>
      guard({ name: `agent/${t.node}`, timeoutMs, hint: agentHint(ctx, t.node) }, () =>
        checkAgent(t, { dial, health, plaintext, hint: (n) => agentHint(ctx, n) }),
      ),
    ),
  );
  return [summary, ...rows.flat()];
}

async function versionRow(ctx: Ctx, deps: DoctorDeps): Promise<CheckResult> {
  const own = deps.version ?? readBuildInfo().version;
  let targets;
  try {
    targets = await deadline(versionTargets(ctx.kube, ctx.scope), ctx.cfg.timeoutMs);
  } catch (err) {
    return warn(
      'versions',
      `doctor ${own}; the release's pods cannot be listed: ${errorLine(err)}`,
      KUBE_HINT,
    );
  }
  return checkVersions(targets, deps.fetchText ?? fetchText(ctx.cfg.timeoutMs), own);
}

function subjectsOf(workloads: Ctx['workloads'], namespace: string): Subject[] {
  if (!Array.isArray(workloads)) return [];
  return workloads
    .filter(
      (w) => w.kind === 'Deployment' && ['controller', 'worker'].includes(w.component) && w.serviceAccount,
    )
    .map((w) => ({ component: w.component, namespace, serviceAccount: w.serviceAccount ?? '' }));
}

async function kubeRows(cfg: DoctorConfig, deps: DoctorDeps, kube: KubeReader): Promise<CheckResult[]> {
  const ms = cfg.timeoutMs;
  const access = await deadline(checkKubeAccess(kube), ms).catch((err: unknown) => ({
    result: fail('kube-access', `${kube.server}: ${errorLine(err)}`, KUBE_HINT),
    user: undefined,
  }));
  if (!access.result.ok) return [access.result];
  const scope = { namespace: cfg.agents.namespace, selector: releaseSelector(cfg.agents.selector) };
  const ctx: Ctx = { cfg, kube, scope, probe: deps.probe ?? fetchProbe(ms), dial: deps.dial };
  if (!ctx.dial && cfg.agents.dial) ctx.dial = agentDialer(cfg.agents.dial, ms);
  // Admin identities get the ServiceAccounts to check from the Deployments even when URLs replace them.
  ctx.workloads = await deadline(listWorkloads(kube, scope.namespace, scope.selector), ms).catch(
    (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
  );
  const g = (
    name: string,
    hint: string,
    fn: () => Promise<CheckResult | CheckResult[]>,
  ): Promise<CheckResult[]> => guard({ name, timeoutMs: ms, hint }, fn);
  const rows = await Promise.all([
    g('rbac/worker', KUBE_HINT, () =>
      checkRbac(kube, subjectsOf(ctx.workloads, scope.namespace), access.user),
    ),
    g('crd', 'kubectl apply -f charts/tote/crds/', () => checkCrd(kube)),
    g('namespaces', KUBE_HINT, () => checkNamespaces(kube)),
    componentRow(ctx, 'controller', cfg.controllerUrl),
    componentRow(ctx, 'worker', cfg.workerUrl),
    // Listing, probing and dialling each get their own deadline inside.
    guard({ name: 'agents', timeoutMs: 3 * ms, hint: agentHint(ctx, '<node>') }, () => agentRows(ctx)),
    // Listing, then every /metrics at once with its own deadline.
    guard({ name: 'versions', timeoutMs: 3 * ms, hint: 'see the rows above' }, () => versionRow(ctx, deps)),
  ]);
  return [access.result, ...rows.flat()];
}

function temporalRows(cfg: DoctorConfig, deps: DoctorDeps): Promise<CheckResult[]> {
  const connect =
    deps.connectTemporal ??
    (() => Connection.connect({ ...cfg.temporal.connection, connectTimeout: cfg.timeoutMs }));
  const scope = { address: cfg.temporal.connection.address, ...cfg.temporal };
  return temporalChecks({ scope, connect, timeoutMs: cfg.timeoutMs });
}

/** Runs every check and returns the report; never throws for an unhealthy installation. */
export async function runDoctor(
  cfg: DoctorConfig,
  env: Record<string, string | undefined>,
  deps: DoctorDeps = {},
): Promise<DoctorReport> {
  let kube = deps.kube;
  let kubeError: unknown;
  if (!kube)
    kube = await loadKubeHttp({ file: cfg.kubeconfig, env }).catch((err: unknown) => void (kubeError = err));
  try {
    const kubeSide = kube
      ? kubeRows(cfg, deps, kube)
      : Promise.resolve([
          fail('kube-access', `no Kubernetes credentials: ${errorLine(kubeError)}`, KUBE_HINT),
        ]);
    const [k, t] = await Promise.all([kubeSide, temporalRows(cfg, deps)]);
    return toReport([...k, ...t]);
  } finally {
    kube?.close?.();
  }
}
