import path from 'node:path';
import { agentNodeFlags } from './agent-node-flags.js';
import { createCA, issueCert, type CA, type CertFiles } from './pki.js';
import { freePort, waitFor } from './ports.js';
import type { Managed } from './run.js';
import { nodeIP, type Sandbox } from './sandbox.js';
import { repoRoot } from './tools.js';

/** The compiled CLI every tote process runs from (`npm run build` makes it), as in production. */
export const TOTE_BIN = path.join(repoRoot(), 'bin', 'tote.js');

/** mTLS material for agents and their clients: one CA, a certificate per agent and one for workers. */
export interface TotePki {
  ca: CA;
  /** Agent certificates by node name (server and client use, SAN "tote-agent"). */
  agents: Map<string, CertFiles>;
  /** Client certificate of the worker (and of tests that call agents). */
  worker: CertFiles;
}

/** A running `tote agent` for one node. */
export interface AgentProcess {
  node: string;
  /** `host:port` of the tote.v1 gRPC service. */
  address: string;
  healthUrl: string;
  metricsUrl: string;
  managed: Managed;
  /** Stops (SIGTERM) and starts the agent again with the same flags, or with `extraArgs` in place of the extras. */
  restart(extraArgs?: string[]): Promise<void>;
  /** SIGKILL (fault injection); {@link start} brings it back. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

/** Options of {@link startAgents}. */
export interface AgentsOptions {
  /** Serve mTLS (true) or plaintext behind --insecure-dev. @default true */
  mtls?: boolean;
  /** Extra flags for every agent. */
  args?: string[];
  /** Extra flags for one node's agent, after {@link args} (e.g. `--max-concurrent-exports=0` on some nodes). */
  argsFor?: (node: string) => string[];
}

/** Creates the CA and certificates of every agent and of the worker in the run directory. */
export function createTotePki(sb: Sandbox): TotePki {
  const ca = createCA(sb.run.path('tote-pki'), 'tote-ca');
  const agents = new Map<string, CertFiles>();
  for (const n of sb.nodes) {
    agents.set(
      n.name,
      issueCert(ca, { name: `agent-${n.name}`, commonName: n.name, sans: ['tote-agent'], usage: 'both' }),
    );
  }
  const worker = issueCert(ca, {
    name: 'worker',
    commonName: 'tote-worker',
    sans: ['tote-worker'],
    usage: 'client',
  });
  return { ca, agents, worker };
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

/**
 * Waits until `check` passes ({@link waitFor} for a tote process); fails at once, naming the log, if the process
 * exits first. @default timeoutMs 30_000
 */
export async function untilReady(
  m: Managed,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs?: number,
): Promise<void> {
  await waitFor(`${what} ready`, check, { timeoutMs, process: m });
}

/**
 * Starts one `tote agent` per sandbox node, each on its node's own loopback address and the same ports, pointed
 * at that node's containerd socket. Resolves once every agent's /readyz answers.
 */
export async function startAgents(
  sb: Sandbox,
  pki: TotePki,
  opts: AgentsOptions = {},
): Promise<AgentProcess[]> {
  const [grpcPort, healthPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const agents = sb.nodes.map((node, i): AgentProcess => {
    const ip = nodeIP(i + 1);
    const cert = pki.agents.get(node.name);
    const tls =
      opts.mtls === false || !cert
        ? ['--insecure-dev']
        : ['--tls-cert', cert.cert, '--tls-key', cert.key, '--tls-ca', pki.ca.cert];
    const args = [
      TOTE_BIN,
      'agent',
      '--node-name',
      node.name,
      '--containerd-socket',
      node.socket,
      '--bind-address',
      ip,
      '--grpc-port',
      String(grpcPort),
      '--health-port',
      String(healthPort),
      '--metrics-addr',
      `${ip}:${metricsPort}`,
      '--json-log',
      ...tls,
    ];
    let extra = [...(opts.args ?? []), ...(opts.argsFor?.(node.name) ?? [])];
    const healthUrl = `http://${ip}:${healthPort}/readyz`;
    const agent: AgentProcess = {
      node: node.name,
      address: `${ip}:${grpcPort}`,
      healthUrl,
      metricsUrl: `http://${ip}:${metricsPort}/metrics`,
      managed: undefined as unknown as Managed,
      start: async () => {
        agent.managed = sb.run.spawn({
          name: `agent-${node.name}`,
          cmd: process.execPath,
          args: [...agentNodeFlags(), ...args, ...extra],
        });
        await waitFor(`agent ${node.name} ready at ${healthUrl}`, async () => {
          if (agent.managed.child.exitCode !== null)
            throw new Error(`agent ${node.name} exited; see ${agent.managed.logPath}`);
          return healthy(healthUrl);
        });
      },
      restart: async (extraArgs) => {
        if (extraArgs) extra = extraArgs;
        await agent.managed.stop();
        await agent.start();
      },
      kill: () => agent.managed.kill(),
    };
    return agent;
  });
  await Promise.all(agents.map((a) => a.start()));
  return agents;
}
