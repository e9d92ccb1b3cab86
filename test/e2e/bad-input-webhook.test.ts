/**
 * A webhook receiver that misbehaves never fails a salvage. The whole stack runs for real (Temporal, a real
 * cluster with a kubelet per containerd node, mTLS agents, `tote worker` with --webhook-url and
 * --webhook-timeout=1s) against a raw TCP receiver that, per event, never answers, answers 500, or closes the
 * connection. Each salvage still completes with the image on the target and the Deployment's pod Running from it;
 * each failed delivery is recorded as a clear activity failure in the workflow's history; and once the receiver
 * is healthy again the same worker delivers every event.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type { KubeConfig } from '@kubernetes/client-node';
import { salvageStartOptions } from '../../workflows/start-options.js';
import type { SalvageResult } from '../../workflows/index.js';
import { listImages } from '../harness/containerd.js';
import { buildImage, importToNode } from '../harness/images.js';
import { createNamespace } from '../harness/pods.js';
import { startSandbox, type Sandbox } from '../harness/sandbox.js';
import { startToteStack } from '../harness/stack.js';
import { applyDeployment, awaitKubeletFailure, awaitRunning } from '../harness/workloads.js';

type Behaviour = 'hang' | '500' | 'close' | 'ok';

/** A receiver speaking raw HTTP/1.1, so it can misbehave in ways an HTTP server library would not. */
class Receiver {
  readonly attempts: { event: string; behaviour: Behaviour }[] = [];
  /** What to do with each event type; anything not listed is answered 204. */
  plan: Record<string, Behaviour> = {};
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  url = '';

  async start(): Promise<void> {
    this.server = createServer((s) => this.accept(s));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    let data = '';
    s.on('data', (c: Buffer) => {
      data += c.toString('utf8');
      const end = data.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(data)?.[1] ?? -1);
      if (end < 0 || data.length < end + 4 + length) return;
      const event = (JSON.parse(data.slice(end + 4, end + 4 + length)) as { event: string }).event;
      data = '';
      const behaviour = this.plan[event] ?? 'ok';
      this.attempts.push({ event, behaviour });
      this.respond(s, behaviour);
    });
  }

  private respond(s: Socket, behaviour: Behaviour): void {
    if (behaviour === 'hang') return;
    if (behaviour === 'close') return void s.destroy();
    const line = behaviour === '500' ? '500 Internal Server Error' : '204 No Content';
    s.write(`HTTP/1.1 ${line}\r\nContent-Length: 0\r\n\r\n`);
  }

  count(event: string, behaviour: Behaviour): number {
    return this.attempts.filter((a) => a.event === event && a.behaviour === behaviour).length;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

let sb: Sandbox;
let kc: KubeConfig;
let connection: Connection;
let client: Client;
const receiver = new Receiver();

beforeAll(async () => {
  sb = await startSandbox({ label: 'bad-input-webhook', nodes: 2, registry: false, kubelets: true });
  try {
    kc = sb.kube.kubeConfig();
    await receiver.start();
    await startToteStack(sb, {
      controllers: 0,
      workerArgs: [`--webhook-url=${receiver.url}`, '--webhook-timeout=1s'],
    });
    await createNamespace(kc, 'shop', { 'tote.dev/allow': 'true' });
    connection = await Connection.connect({ address: sb.temporal.address });
    client = new Client({ connection, namespace: sb.temporal.namespace });
  } catch (err) {
    console.error(sb.run.tailLogs(40));
    await sb.stop();
    throw err;
  }
}, 600_000);

afterAll(async () => {
  await connection?.close();
  await receiver.stop();
  await sb?.stop();
}, 120_000);

/**
 * Puts an image on node-1 only, makes an opted-in Deployment's pod on node-2 need it (kubelet fails its pull), runs
 * the salvage to its end and waits for the Deployment's new pod to run from the image.
 */
async function salvage(name: string): Promise<{ result: SalvageResult; workflowId: string; digest: string }> {
  const img = await buildImage(sb.run, { layers: 2, layerSize: 128 << 10, app: {} });
  const ref = `registry.invalid/shop/${name}:v1`;
  await importToNode(sb.node('node-1'), img, ref);
  const image = `${ref}@${img.digest}`;
  await applyDeployment(kc, {
    namespace: 'shop',
    name,
    node: 'node-2',
    image,
    podAnnotations: { 'tote.dev/auto-salvage': 'true' },
  });
  const failure = await awaitKubeletFailure(kc, 'shop', name, ['ErrImagePull', 'ImagePullBackOff']);
  const input = {
    digest: img.digest,
    imageRef: image,
    node: 'node-2',
    pod: { namespace: 'shop', name: failure.pod.metadata?.name ?? '', uid: failure.pod.metadata?.uid },
    container: failure.container,
    reason: failure.reason,
  };
  const handle = await client.workflow.start('salvageImage', salvageStartOptions(input));
  const result = (await handle.result()) as SalvageResult;
  await awaitRunning(kc, 'shop', name, { node: 'node-2', digest: img.digest });
  return { result, workflowId: handle.workflowId, digest: img.digest };
}

/** The failure messages of every failed sendWebhook attempt in a workflow's history. */
async function webhookFailures(workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const messages: string[] = [];
  for (const e of history.events ?? []) {
    const failure =
      e.activityTaskFailedEventAttributes?.failure ?? e.activityTaskTimedOutEventAttributes?.failure;
    if (failure?.message?.includes('webhook')) messages.push(failure.message);
  }
  return messages;
}

test('given a receiver that never answers "detected" and answers 500 to "salvaged", the salvage completes', async () => {
  receiver.plan = { detected: 'hang', salvaged: '500' };
  const { result, workflowId, digest } = await salvage('hang-then-500');
  expect(result.outcome).toBe('salvaged');
  expect((await listImages(sb.node('node-2'))).some((r) => r.digest === digest)).toBe(true);
  // Each event was tried more than once (Temporal retried the activity), then given up on.
  expect(receiver.count('detected', 'hang')).toBeGreaterThan(1);
  expect(receiver.count('salvaged', '500')).toBeGreaterThan(1);
  const failures = await webhookFailures(workflowId);
  process.stdout.write(`${[...new Set(failures)].join('\n')}\n`);
  expect(failures).toContainEqual(
    expect.stringMatching(/webhook detected: webhook receiver .*: no answer within 1000 ms/),
  );
  expect(failures).toContainEqual('webhook salvaged answered HTTP 500');
}, 600_000);

test('given a receiver that drops the connection on "detected", the salvage completes and, healthy again, it gets "salvaged"', async () => {
  receiver.plan = { detected: 'close' };
  const { result, workflowId } = await salvage('closed-then-ok');
  expect(result.outcome).toBe('salvaged');
  expect(receiver.count('detected', 'close')).toBeGreaterThan(1);
  expect(receiver.count('salvaged', 'ok')).toBeGreaterThanOrEqual(1);
  const failures = await webhookFailures(workflowId);
  process.stdout.write(`${[...new Set(failures)].join('\n')}\n`);
  expect(failures).toContainEqual(
    expect.stringMatching(/webhook detected: webhook receiver .*: other side closed/),
  );
}, 600_000);

test('given the receiver healthy again, the same worker delivers every event of the next salvage', async () => {
  receiver.plan = {};
  const before = receiver.attempts.length;
  const { result } = await salvage('healthy');
  expect(result.outcome).toBe('salvaged');
  const events = receiver.attempts.slice(before).map((a) => `${a.event}:${a.behaviour}`);
  expect(events).toEqual(['detected:ok', 'salvaged:ok']);
}, 600_000);
