import { ImportPhase } from '../../proto/gen/tote/v1/agent.js';
import { startRealCluster, transfer, type RealCluster } from '../agent-contract/real.js';
import { listImages } from '../harness/containerd.js';
import { buildImage, importToNode } from '../harness/images.js';
import { Run } from '../harness/run.js';

// `tote agent --max-upload-rate`: real agents and containerd. Node `a` serves with a budget of 1 MiB/s (burst: one
// 256 KiB chunk); `b` and `c` import from it at the same time. What is checked is the limiter's contract, not a
// speed: the bytes `a` sent never exceed burst + rate x elapsed (elapsed measured around the whole transfer, so a
// slow machine only makes it longer), both imports share the one budget, and the wait shows in the metric.

const TIMEOUT = 180_000;
const RATE = 1 << 20;
const CHUNK = 256 << 10;
let run: Run;
let cluster: RealCluster;

beforeAll(async () => {
  run = Run.create('agent-rate');
  try {
    cluster = await startRealCluster(run, ['a', 'b', 'c'], {
      args: { a: [`--max-upload-rate=${RATE}`, `--chunk-size=${CHUNK}`] },
    });
  } catch (err) {
    console.error(run.tailLogs());
    throw err;
  }
}, TIMEOUT);

afterAll(async () => {
  await run?.stop();
}, TIMEOUT);

/** One counter (no labels) from node `a`'s /metrics. */
async function counter(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${cluster.node('a').metricsPort}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} not in the metrics of node a`);
  return Number(m[1]);
}

test(
  'given a source limited to 1 MiB/s, two concurrent imports share that budget and both complete intact',
  async () => {
    const img = await buildImage(run, { layers: 2, layerSize: 1 << 20 });
    await importToNode(cluster.node('a').containerd, img, 'registry.example/rate:v1');
    const [sentBefore, throttledBefore] = [
      await counter('tote_agent_bytes_sent_total'),
      await counter('tote_agent_upload_throttled_seconds_total'),
    ];
    const start = performance.now();
    const done = await Promise.all(
      ['b', 'c'].map((to) =>
        transfer(cluster, { digest: img.digest, from: ['a'], to, names: ['registry.example/rate:v1'] }),
      ),
    );
    const elapsed = (performance.now() - start) / 1000;
    expect(done.map((d) => d.phase)).toEqual([ImportPhase.IMPORT_PHASE_DONE, ImportPhase.IMPORT_PHASE_DONE]);
    for (const n of ['b', 'c']) {
      expect((await listImages(cluster.node(n).containerd)).map((r) => r.digest)).toContain(img.digest);
    }
    const sent = (await counter('tote_agent_bytes_sent_total')) - sentBefore;
    // Both targets got every blob from `a`: more than one image's worth, through one bucket.
    expect(sent).toBeGreaterThan(4 << 20);
    // The token bucket's bound: at most one burst plus the rate over the time the bytes took (10% for the
    // difference between this process's clock and the agent's timers).
    expect(sent).toBeLessThanOrEqual(CHUNK + RATE * elapsed * 1.1);
    // The streams waited for the budget, and the agent says so.
    expect((await counter('tote_agent_upload_throttled_seconds_total')) - throttledBefore).toBeGreaterThan(1);
  },
  TIMEOUT,
);

test(
  'given an unlimited node, the metric of throttled time stays at zero',
  async () => {
    const img = await buildImage(run, { layers: 1, layerSize: 256 << 10 });
    await importToNode(cluster.node('b').containerd, img, 'registry.example/free:v1');
    const done = await transfer(cluster, {
      digest: img.digest,
      from: ['b'],
      to: 'c',
      names: ['registry.example/free:v1'],
    });
    expect(done.phase).toBe(ImportPhase.IMPORT_PHASE_DONE);
    const text = await (await fetch(`http://127.0.0.1:${cluster.node('b').metricsPort}/metrics`)).text();
    expect(text).toMatch(/^tote_agent_upload_throttled_seconds_total 0$/m);
    expect(Number(/^tote_agent_bytes_sent_total (\S+)$/m.exec(text)?.[1])).toBeGreaterThan(256 << 10);
  },
  TIMEOUT,
);
