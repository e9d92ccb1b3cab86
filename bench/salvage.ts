/**
 * `npm run bench:salvage`: orchestration overhead of a salvage on the local dev server, i.e. what Temporal, the
 * worker and its activities add around the bytes: the time from the workflow start to the first blob byte on
 * the target node, and from the last byte to the workflow's completion (record, events, pod restart, backup
 * push, webhooks). TOTE_BENCH_SALVAGES (default 20) salvages of a 16 MiB image (2 layers of 8 MiB), each a new
 * image onto node-2 for a new pod, after one warm-up salvage. Prints `name value unit` lines.
 *
 * How bytes are seen: a persistent client polls the target containerd's ingests (ListStatuses) every
 * TOTE_BENCH_POLL_MS (default 5): the first poll with an ingest is the first byte, the first poll with none
 * after that is the last byte (so both figures carry up to one poll interval of error). Not a test: timings
 * depend on the machine (its load average is printed).
 */
import { loadavg } from 'node:os';
import { credentials, Metadata } from '@grpc/grpc-js';
import {
  ContentClient,
  type ListStatusesResponse,
} from '../proto/gen/containerd/services/content/v1/content.js';
import { startSalvageEnv, type SalvageEnv } from '../test/e2e/salvage-env.js';
import { buildImage, importToNode } from '../test/harness/images.js';
import { createDeployment, createNamespace, setPodImageFailure } from '../test/harness/pods.js';
import { salvageImage, type SalvageInput } from '../workflows/index.js';
import { salvageStartOptions } from '../workflows/start-options.js';

const SALVAGES = Number(process.env.TOTE_BENCH_SALVAGES ?? 20);
const POLL_MS = Number(process.env.TOTE_BENCH_POLL_MS ?? 5);

function line(name: string, value: number, unit = ''): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(1)}${unit ? ` ${unit}` : ''}`);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

/** Watches the target's ingests; `window()` gives the first and last moment bytes were arriving. */
class IngestWatch {
  private readonly client: ContentClient;
  private readonly md = new Metadata();
  private first?: number;
  private lastBusy?: number;
  private idleAfter?: number;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(socket: string) {
    this.client = new ContentClient(`unix://${socket}`, credentials.createInsecure());
    this.md.set('containerd-namespace', 'k8s.io');
    this.loop = this.run();
  }

  private async busy(): Promise<boolean> {
    const res = await new Promise<ListStatusesResponse>((resolve, reject) =>
      this.client.listStatuses({ filters: [] }, this.md, (e, r) => (e ? reject(e) : resolve(r))),
    );
    return res.statuses.length > 0;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const now = performance.now();
      if (await this.busy()) {
        this.first ??= now;
        this.lastBusy = now;
        this.idleAfter = undefined;
      } else if (this.lastBusy !== undefined) {
        this.idleAfter ??= now;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  reset(): void {
    this.first = this.lastBusy = this.idleAfter = undefined;
  }

  window(): { first: number; last: number } | undefined {
    if (this.first === undefined || this.lastBusy === undefined) return undefined;
    return { first: this.first, last: this.idleAfter ?? this.lastBusy };
  }

  async close(): Promise<void> {
    this.running = false;
    await this.loop;
    this.client.close();
  }
}

async function prepare(env: SalvageEnv, i: number): Promise<SalvageInput> {
  const ns = `bench-${i}`;
  const ref = `registry.gone.test/${ns}/app:1`;
  const img = await buildImage(env.sb.run, { layers: 2, layerSize: 8 << 20, name: ns });
  await importToNode(env.sb.node('node-1'), img, ref);
  await env.sb.syncNodeImages('node-1');
  await createNamespace(env.admin, ns, { 'tote.dev/allow': 'true' });
  const chain = await createDeployment(env.admin, {
    namespace: ns,
    name: 'app',
    nodeName: 'node-2',
    image: ref,
    annotations: { 'tote.dev/auto-salvage': 'true' },
  });
  const pod = { namespace: ns, name: chain.pod.metadata?.name ?? '', uid: chain.pod.metadata?.uid };
  await setPodImageFailure(env.admin, { ...pod, container: 'app', reason: 'ImagePullBackOff' });
  return {
    digest: img.digest,
    imageRef: ref,
    node: 'node-2',
    pod,
    container: 'app',
    reason: 'ImagePullBackOff',
  };
}

async function salvageOnce(env: SalvageEnv, watch: IngestWatch, input: SalvageInput): Promise<number[]> {
  watch.reset();
  const t0 = performance.now();
  const handle = await env.client.workflow.start(salvageImage, salvageStartOptions(input));
  const result = await handle.result();
  const done = performance.now();
  const w = watch.window();
  if (result.outcome !== 'salvaged' || !w)
    throw new Error(`salvage ${input.pod.namespace}: ${result.outcome}`);
  return [w.first - t0, done - w.last, done - t0];
}

async function main(): Promise<void> {
  const env = await startSalvageEnv();
  const watch = new IngestWatch(env.sb.node('node-2').socket);
  try {
    const inputs: SalvageInput[] = [];
    for (let i = 0; i <= SALVAGES; i++) inputs.push(await prepare(env, i));
    await salvageOnce(env, watch, inputs[0] as SalvageInput); // warm-up: worker caches, first connections
    const rows: number[][] = [];
    for (const input of inputs.slice(1)) rows.push(await salvageOnce(env, watch, input));
    const col = (k: number): number[] => rows.map((r) => r[k] as number);
    line('salvages', rows.length);
    line('image_size', 16, 'MiB');
    line('start_to_first_byte_p50_ms', percentile(col(0), 50), 'ms');
    line('start_to_first_byte_p95_ms', percentile(col(0), 95), 'ms');
    line('last_byte_to_done_p50_ms', percentile(col(1), 50), 'ms');
    line('last_byte_to_done_p95_ms', percentile(col(1), 95), 'ms');
    line('start_to_done_p50_ms', percentile(col(2), 50), 'ms');
    line('poll_interval', POLL_MS, 'ms');
    line('load_average_1m', loadavg()[0] ?? 0);
  } finally {
    await watch.close();
    await env.stop();
  }
}

await main();
