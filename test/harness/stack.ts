import { installChartIdentities } from './chart-rbac.js';
import { startToteController, type ControllerProcess } from './controller.js';
import { startSandbox, type Sandbox, type SandboxOptions } from './sandbox.js';
import { createTotePki, startAgents, type AgentProcess, type TotePki } from './tote.js';
import { startToteWorker, type WorkerProcess } from './worker.js';

/** Options of {@link startToteStack}. */
export interface StackOptions {
  /** Extra flags for every agent. */
  agentArgs?: string[];
  /** Extra flags for one node's agent, after `agentArgs`. */
  agentArgsFor?: (node: string) => string[];
  /** Extra flags for the worker (backup registry, webhooks, limits…). */
  workerArgs?: string[];
  /** Extra environment for the worker (e.g. TOTE_WEBHOOK_SECRET). */
  workerEnv?: Record<string, string>;
  /** How long each worker start may take to become ready. @default 30_000 */
  workerReadyTimeoutMs?: number;
  /** Controller replicas to run (0 for none). @default 1 */
  controllers?: number;
  /** Extra flags for every controller. */
  controllerArgs?: string[];
  /** `--set` values for the chart whose RBAC the processes run under (e.g. `pullPolicyRemedy.enabled=true`). */
  chartValues?: string[];
}

/** tote's own processes on a sandbox, each running as the chart's ServiceAccount with mTLS between them. */
export interface ToteStack {
  pki: TotePki;
  agents: AgentProcess[];
  worker: WorkerProcess;
  controllers: ControllerProcess[];
  /** The agent of node `name`. */
  agent(name: string): AgentProcess;
}

/**
 * Starts an mTLS agent per node, installs the chart's CRD and RBAC, then runs the worker and the controller(s)
 * under kubeconfigs minted for the chart's ServiceAccounts. Everything stops with the sandbox's run.
 */
export async function startToteStack(sb: Sandbox, opts: StackOptions = {}): Promise<ToteStack> {
  const pki = createTotePki(sb);
  const [agents, ids] = await Promise.all([
    startAgents(sb, pki, { args: opts.agentArgs, argsFor: opts.agentArgsFor }),
    installChartIdentities(sb.kube, opts.chartValues),
  ]);
  const agentPort = agents[0]?.address.split(':')[1] ?? '';
  const worker = await startToteWorker(sb.run, {
    kubeconfig: ids.workerKubeconfig,
    temporalAddress: sb.temporal.address,
    agentEndpointTemplate: `{nodeIP}:${agentPort}`,
    tls: { ...pki.worker, ca: pki.ca.cert },
    args: opts.workerArgs,
    env: opts.workerEnv,
    readyTimeoutMs: opts.workerReadyTimeoutMs,
  });
  const controllers = await Promise.all(
    Array.from({ length: opts.controllers ?? 1 }, (_, i) =>
      startToteController(sb.run, {
        kubeconfig: ids.controllerKubeconfig,
        temporalAddress: sb.temporal.address,
        name: `controller-${i + 1}`,
        args: opts.controllerArgs,
      }),
    ),
  );
  return {
    pki,
    agents,
    worker,
    controllers,
    agent: (name) => {
      const a = agents.find((x) => x.node === name);
      if (!a) throw new Error(`no agent for node "${name}"`);
      return a;
    },
  };
}

/**
 * A real sandbox cluster (`kubelets: true`) with tote's stack on it (the worker gets 120 s to be ready). If the
 * stack fails to start, the sandbox's last log lines are printed and it is stopped.
 */
export async function startClusterWithTote(
  sandbox: Omit<SandboxOptions, 'kubelets'>,
  stack: StackOptions = {},
): Promise<{ sb: Sandbox; stack: ToteStack }> {
  const sb = await startSandbox({ ...sandbox, kubelets: true });
  try {
    return { sb, stack: await startToteStack(sb, { workerReadyTimeoutMs: 120_000, ...stack }) };
  } catch (err) {
    process.stderr.write(sb.run.tailLogs(30));
    await sb.stop();
    throw err;
  }
}
