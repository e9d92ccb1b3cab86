/**
 * Real agents for integration tests: one containerd 1.6 daemon and one `tote agent` process (compiled CLI, as in
 * production) per node, with mTLS certificates from a fresh CA. Lighter than the whole sandbox: no Temporal, no
 * kube-apiserver.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { AgentClient } from '../../infra/agent-client.js';
import type { ImportFromResponse } from '../../proto/gen/tote/v1/agent.js';
import { startContainerdNode, type ContainerdNode } from '../harness/containerd.js';
import { createCA, issueCert, type CA, type CertFiles } from '../harness/pki.js';
import { agentNodeFlags } from '../harness/agent-node-flags.js';
import { freePort, waitFor } from '../harness/ports.js';
import type { Managed, Run } from '../harness/run.js';

const TOTE_BIN = path.resolve('bin/tote.js');

/** One simulated node: containerd plus its agent. */
export interface RealNode {
  name: string;
  containerd: ContainerdNode;
  address: string;
  healthPort: number;
  metricsPort: number;
  managed: Managed;
  /** Starts the agent process (again, after kill/stop) and waits for /readyz. */
  start(): Promise<void>;
  kill(): Promise<void>;
}

/** Nodes plus the PKI and a worker-identity client factory. */
export interface RealCluster {
  nodes: Record<string, RealNode>;
  ca: CA;
  worker: CertFiles;
  /** A client with the worker's certificate for `node`. */
  client(node: string): AgentClient;
  node(name: string): RealNode;
}

/** Options of {@link startRealCluster}. */
export interface RealClusterOptions {
  /** Plaintext agents (--insecure-dev) instead of mTLS: only to measure what TLS costs. */
  insecure?: boolean;
  /** Extra agent flags by node name (e.g. a small --chunk-size). */
  args?: Record<string, string[]>;
  /** Override the containerd socket the agent dials (missing-socket tests). */
  socket?: Record<string, string>;
  /** Extra environment by node name (e.g. NODE_EXTRA_CA_CERTS for a registry's CA). */
  env?: Record<string, Record<string, string>>;
}

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
  } catch {
    return false;
  }
}

async function startNode(
  run: Run,
  name: string,
  pki: { ca: CA; cert: CertFiles },
  opts: RealClusterOptions,
): Promise<RealNode> {
  const containerd = await startContainerdNode(run, { name });
  const [grpcPort, healthPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const args = [
    TOTE_BIN,
    'agent',
    '--node-name',
    name,
    '--containerd-socket',
    opts.socket?.[name] ?? containerd.socket,
    '--bind-address',
    '127.0.0.1',
    '--grpc-port',
    String(grpcPort),
    '--health-port',
    String(healthPort),
    '--metrics-addr',
    `127.0.0.1:${metricsPort}`,
    ...(opts.insecure
      ? ['--insecure-dev']
      : ['--tls-cert', pki.cert.cert, '--tls-key', pki.cert.key, '--tls-ca', pki.ca.cert]),
    ...(opts.args?.[name] ?? []),
  ];
  const node: RealNode = {
    name,
    containerd,
    address: `127.0.0.1:${grpcPort}`,
    healthPort,
    metricsPort,
    managed: undefined as unknown as Managed,
    start: async () => {
      node.managed = run.spawn({
        name: `agent-${name}-${randomBytes(2).toString('hex')}`,
        cmd: process.execPath,
        args: [...agentNodeFlags(), ...args],
        cwd: process.cwd(),
        env: opts.env?.[name],
      });
      let exited: unknown;
      void node.managed.exited.then((c) => (exited = c));
      await waitFor(`agent ${name} health`, async () => {
        if (exited !== undefined)
          throw new Error(`agent ${name} exited (${String(exited)}); log ${node.managed.logPath}`);
        return ready(healthPort);
      });
    },
    kill: async () => node.managed.kill(),
  };
  await node.start();
  return node;
}

/** Starts containerd and an agent for every name, with per-node certificates (CN = node name). */
export async function startRealCluster(
  run: Run,
  names: string[],
  opts: RealClusterOptions = {},
): Promise<RealCluster> {
  const ca = createCA(run.path('pki'), 'tote-ca');
  const worker = issueCert(ca, { name: 'worker', commonName: 'tote-worker', usage: 'client' });
  const nodes: Record<string, RealNode> = {};
  for (const name of names) {
    const cert = issueCert(ca, {
      name: `agent-${name}`,
      commonName: name,
      sans: ['tote-agent'],
      usage: 'both',
    });
    nodes[name] = await startNode(run, name, { ca, cert }, opts);
  }
  const node = (name: string): RealNode => {
    const n = nodes[name];
    if (!n) throw new Error(`no node ${name}`);
    return n;
  };
  return {
    nodes,
    ca,
    worker,
    node,
    client: (name) =>
      opts.insecure
        ? new AgentClient({ address: node(name).address, insecure: true })
        : new AgentClient({ address: node(name).address, tls: { ...worker, ca: ca.cert } }),
  };
}

/** The worker's part of a transfer: a session on each source, then ImportFrom on the target. */
export async function transfer(
  cluster: RealCluster,
  opts: {
    digest: string;
    from: string[];
    to: string;
    names: string[];
    token?: string;
    onUpdate?: (u: ImportFromResponse) => void;
  },
): Promise<ImportFromResponse> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  for (const s of opts.from) {
    const c = cluster.client(s);
    try {
      await c.prepareExport({
        session: { token, digest: opts.digest, sourceNode: s, targetNode: opts.to, ttlSeconds: 600 },
        digest: opts.digest,
      });
    } finally {
      c.close();
    }
  }
  const sources = opts.from.map((s) => ({ node: s, address: cluster.node(s).address }));
  const target = cluster.client(opts.to);
  let last: ImportFromResponse | undefined;
  try {
    for await (const u of target.importFrom({ token, digest: opts.digest, sources, names: opts.names })) {
      last = u;
      opts.onUpdate?.(u);
    }
  } finally {
    target.close();
  }
  if (!last) throw new Error('no progress');
  return last;
}
