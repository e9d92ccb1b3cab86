import type { Command } from 'commander';
import { ConfigError, FLAGS, parseAgentConfig, type RawAgentFlags } from '../workers/agent-config.js';
import { UserError } from './errors.js';

const HELP: Record<keyof typeof FLAGS, string> = {
  containerdSocket: "path of containerd's gRPC socket",
  containerdNamespace: 'containerd namespace of the images (kubelet uses k8s.io)',
  bindAddress: 'address the gRPC, health and metrics servers bind to',
  grpcPort: 'port of the tote.v1 agent gRPC service (mTLS)',
  healthPort: 'plaintext health port: HTTP /healthz, /readyz and grpc.health.v1',
  metricsAddr: '[host]:port of the Prometheus /metrics endpoint',
  nodeName: 'name of this Kubernetes node (sessions are bound to it)',
  tlsCert: 'PEM certificate of this agent (mTLS)',
  tlsKey: 'PEM private key of this agent (mTLS)',
  tlsCa: 'PEM CA that signs every agent and worker certificate (mTLS)',
  insecureDev: 'serve and dial WITHOUT TLS: local development only',
  maxConcurrentExports: 'transfer sessions this node serves at once (0: never serves peers)',
  maxImageSize: 'largest image imported, e.g. 10Gi',
  chunkSize: 'largest chunk of a blob stream, e.g. 1Mi',
  maxUploadRate: 'bytes per second this node serves to peers, all exports together, e.g. 64Mi (0: unlimited)',
  backupRegistryCa: 'PEM bundle of CAs trusted besides the public roots for the backup registry (pushes)',
  jsonLog: 'log JSON lines (false: human-readable)',
};

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** `tote agent`: the node agent (DaemonSet). Every flag falls back to its TOTE_* environment variable. */
export function registerAgent(program: Command): void {
  const cmd = program
    .command('agent')
    .description('Run the node agent: serves and imports images blob by blob between containerd stores.');
  for (const [key, f] of Object.entries(FLAGS) as Array<
    [keyof typeof FLAGS, (typeof FLAGS)[keyof typeof FLAGS]]
  >) {
    const boolean = key === 'insecureDev' || key === 'jsonLog';
    const def = f.def === undefined ? '' : ` (default: ${f.def})`;
    cmd.option(`${f.flag}${boolean ? ' [bool]' : ' <value>'}`, `${HELP[key]}; env ${f.env}${def}`);
  }
  // The chart's name for --insecure-dev.
  cmd.option('--insecure-plaintext [bool]', 'same as --insecure-dev');
  cmd.action(async (opts: RawAgentFlags & { insecurePlaintext?: string | boolean }) => {
    let cfg;
    try {
      cfg = parseAgentConfig({ insecureDev: opts.insecurePlaintext, ...stripUndefined(opts) }, process.env);
    } catch (err) {
      if (err instanceof ConfigError) throw new UserError(err.message, 2);
      throw err;
    }
    // Loaded on demand: `tote agent` pulls in nothing of the other subcommands (Temporal, Kubernetes).
    const { startAgent } = await import('../workers/agent.js');
    const agent = await startAgent(cfg);
    await untilSignal();
    await agent.stop();
  });
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
