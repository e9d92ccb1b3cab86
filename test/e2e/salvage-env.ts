/**
 * The end-to-end salvage environment: the sandbox (Temporal, apiserver, containerd nodes, registry), one mTLS
 * agent per node, the chart's CRD and worker RBAC and a `tote worker` process from the compiled CLI (the harness's
 * `startToteStack`, without controllers), a local webhook receiver that checks signatures, and a Temporal client.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { verifySignature } from '../../infra/webhook.js';
import { startSandbox, type Sandbox } from '../harness/sandbox.js';
import { startToteStack } from '../harness/stack.js';
import type { AgentProcess, TotePki } from '../harness/tote.js';
import type { WorkerProcess } from '../harness/worker.js';

/** One webhook delivery as received. */
export interface Delivery {
  event: string;
  workflowId: string;
  data: Record<string, unknown>;
  signatureValid: boolean;
}

/** A local webhook receiver. */
export interface Receiver {
  url: string;
  deliveries: Delivery[];
  close(): Promise<void>;
}

/** Starts a receiver that records every POST and checks its `X-Tote-Signature` against `secret`. */
export async function startReceiver(secret: string): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const srv: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const parsed = JSON.parse(body) as Omit<Delivery, 'signatureValid'>;
      const sig = req.headers['x-tote-signature'];
      deliveries.push({
        ...parsed,
        signatureValid: verifySignature(secret, body, sig as string | undefined),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hooks/tote`,
    deliveries,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** Everything an end-to-end salvage needs. */
export interface SalvageEnv {
  sb: Sandbox;
  pki: TotePki;
  agents: AgentProcess[];
  receiver: Receiver;
  worker: WorkerProcess;
  client: Client;
  admin: KubeConfig;
  webhookSecret: string;
  /** Reconnects the client (after a Temporal restart the old connection may be broken). */
  reconnect(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the whole environment; `agentArgs` go to every agent (e.g. a small `--chunk-size`). */
export async function startSalvageEnv(opts: { agentArgs?: string[] } = {}): Promise<SalvageEnv> {
  const sb = await startSandbox({ label: 'e2e-salvage', nodes: 2, durableTemporal: true, kubelets: true });
  const webhookSecret = 'e2e-hmac-key';
  let receiver: Receiver | undefined;
  try {
    receiver = await startReceiver(webhookSecret);
    const registry = sb.registry;
    const stack = await startToteStack(sb, {
      agentArgs: opts.agentArgs,
      workerArgs: [
        ...(registry ? [`--backup-registry=${registry.host}`, '--backup-registry-insecure'] : []),
        `--webhook-url=${receiver.url}`,
        '--log-level=debug',
      ],
      // The webhook key goes through its env fallback, as the chart passes it.
      workerEnv: { TOTE_WEBHOOK_SECRET: webhookSecret },
      workerReadyTimeoutMs: 120_000,
      controllers: 0,
    });
    const { pki, agents, worker } = stack;
    let connection = await Connection.connect({ address: sb.temporal.address });
    const env: SalvageEnv = {
      sb,
      pki,
      agents,
      receiver,
      admin: sb.kube.kubeConfig(),
      webhookSecret,
      worker,
      client: new Client({ connection }),
      reconnect: async () => {
        await connection.close().catch(() => undefined);
        connection = await Connection.connect({ address: sb.temporal.address });
        env.client = new Client({ connection });
      },
      stop: async () => {
        await connection.close().catch(() => undefined);
        await receiver?.close();
        await sb.stop();
      },
    };
    return env;
  } catch (err) {
    await receiver?.close();
    await sb.stop();
    throw err;
  }
}

export { isToteEvent, podEvents, podGone, salvageRecords } from '../harness/kube-views.js';

/** Sum of a Prometheus metric's series (0 when absent). */
export async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}
