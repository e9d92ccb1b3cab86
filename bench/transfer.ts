/**
 * `npm run bench:transfer`: moves one 512 MiB image of 8 layers from node A to another node, in the same run,
 * (a) through the tote agents (mTLS, real processes), (b) with `ctr images export | ctr images import`, and (c)
 * with a plain content-API copy (read from A's containerd, write to the target's, no agent) as the practical
 * limit; then the dedup case (7 of 8 layers already on the target) and push versus `skopeo copy`.
 * Prints one `name value unit` line per figure. Not a test: timings depend on the machine.
 * Size knobs: TOTE_BENCH_LAYERS (default 8), TOTE_BENCH_LAYER_MIB (default 64).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { copyBlob } from '../agent/blob-copy.js';
import { ContainerdStore } from '../agent/containerd-store.js';
import type { SourceLink } from '../agent/plan.js';
import type { Descriptor } from '../agent/store.js';
import { startRealCluster, transfer, type RealCluster } from '../test/agent-contract/real.js';
import { startContainerdNode, type ContainerdNode } from '../test/harness/containerd.js';
import { buildImage, importToNode, type BuiltImage } from '../test/harness/images.js';
import { startRegistry } from '../test/harness/registry.js';
import { Run } from '../test/harness/run.js';
import { toolPath } from '../test/harness/tools.js';

const execFileP = promisify(execFile);
const MiB = 1 << 20;
const LAYERS = Number(process.env.TOTE_BENCH_LAYERS ?? 8);
const LAYER_BYTES = Number(process.env.TOTE_BENCH_LAYER_MIB ?? 64) * MiB;
const NAME = 'bench.example/big:v1';

function line(name: string, value: number, unit = ''): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)}${unit ? ` ${unit}` : ''}`);
}

async function timed(what: string, fn: () => Promise<unknown>): Promise<number> {
  process.stderr.write(`bench: ${what}...\n`);
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function blobs(img: BuiltImage): Descriptor[] {
  const p = img.platforms[0];
  if (!p) throw new Error('no platform');
  return [p.manifest, p.config, ...p.layers];
}

/**
 * The practical limit: every blob read from A's content store and written into B's with the agent's own
 * blob copier (4 blobs at once, as an import does), but in this process, without gRPC hops between agents.
 */
async function plainCopy(from: ContainerdNode, to: ContainerdNode, img: BuiltImage): Promise<void> {
  const src = new ContainerdStore({ socket: from.socket, namespace: 'k8s.io' });
  const dst = new ContainerdStore({ socket: to.socket, namespace: 'k8s.io' });
  const peer = {
    prepareExport: () => Promise.reject(new Error('unused')),
    async *readBlob(req: { digest: string; offset: string }) {
      let offset = Number(req.offset);
      for await (const data of src.read(req.digest, { offset })) {
        yield { offset: String(offset), data: Buffer.from(data.buffer, data.byteOffset, data.length) };
        offset += data.length;
      }
    },
    close: () => undefined,
  };
  const link: SourceLink = { node: 'a', peer, blobs: new Set(blobs(img).map((b) => b.digest)) };
  await dst.createLease('bench-plain-copy', 3600_000);
  const queue = [...blobs(img)];
  const worker = async (): Promise<void> => {
    for (let d = queue.shift(); d; d = queue.shift()) {
      await copyBlob({
        store: dst,
        desc: d,
        lease: 'bench-plain-copy',
        labels: {},
        sources: [link],
        token: '',
        node: 'b',
      });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  src.close();
  dst.close();
}

async function ctrPipe(from: ContainerdNode, to: ContainerdNode, unpack: boolean): Promise<void> {
  const ctr = toolPath('ctr');
  const importFlags = unpack ? '' : '--no-unpack';
  const script = `set -o pipefail; "${ctr}" --address "${from.socket}" -n k8s.io images export - ${NAME} | "${ctr}" --address "${to.socket}" -n k8s.io images import ${importFlags} -`;
  await execFileP('bash', ['-c', script], { maxBuffer: 16 << 20 });
}

async function agentPush(cluster: RealCluster, digest: string, target: string): Promise<void> {
  const client = cluster.client('a');
  try {
    for await (const _ of client.pushImage({ digest, target, insecure: true })) void _;
  } finally {
    client.close();
  }
}

/** Peak resident memory of an agent process (VmHWM), in MiB: flat whatever the image size. */
function peakRssMiB(cluster: RealCluster, node: string): number {
  const pid = cluster.node(node).managed.child.pid;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

async function main(): Promise<void> {
  const run = Run.create('bench-transfer');
  try {
    const cluster = await startRealCluster(run, ['a', 'b']);
    const [c, d, e] = [
      await startContainerdNode(run, { name: 'c' }),
      await startContainerdNode(run, { name: 'd' }),
      await startContainerdNode(run, { name: 'e' }),
    ];
    const a = cluster.node('a').containerd;
    const img = await buildImage(run, { layers: LAYERS, layerSize: LAYER_BYTES });
    await importToNode(a, img, NAME);
    const mib = img.totalSize / MiB;
    line('image_size', mib, 'MiB');
    const limit = await timed('plain content-API copy', () => plainCopy(a, d, img));
    const ctrS = await timed('ctr export | ctr import --no-unpack', () => ctrPipe(a, c, false));
    const ctrUnpack = await timed('ctr export | ctr import (unpack)', () => ctrPipe(a, e, true));
    let received = 0;
    const agents = await timed('agents A -> B', () =>
      transfer(cluster, { digest: img.digest, from: ['a'], to: 'b', names: [NAME] }),
    );
    const img2 = await buildImage(run, {
      layers: LAYERS,
      layerSize: LAYER_BYTES,
      shareBaseLayersWith: img,
      sharedLayers: LAYERS - 1,
    });
    await importToNode(a, img2, 'bench.example/big:v2');
    const dedup = await timed('agents A -> B, 7 of 8 layers already on B', async () => {
      const done = await transfer(cluster, {
        digest: img2.digest,
        from: ['a'],
        to: 'b',
        names: ['bench.example/big:v2'],
      });
      received = Number(done.bytesReceived);
    });
    const [regA, regS] = [
      await startRegistry(run, { name: 'reg-agent' }),
      await startRegistry(run, { name: 'reg-skopeo' }),
    ];
    const push = await timed('agent push', () => agentPush(cluster, img.digest, `${regA.host}/bench/big:v1`));
    const skopeo = await timed('skopeo copy', () =>
      execFileP(toolPath('skopeo'), [
        '--insecure-policy',
        'copy',
        '--quiet',
        '--preserve-digests',
        '--dest-tls-verify=false',
        `oci:${img.dir}`,
        `docker://${regS.host}/bench/big:v1`,
      ]),
    );
    line('transfer_limit_seconds', limit, 's');
    line('transfer_limit_throughput', mib / limit, 'MiB/s');
    line('transfer_ctr_seconds', ctrS, 's');
    line('transfer_ctr_throughput', mib / ctrS, 'MiB/s');
    line('transfer_ctr_unpack_seconds', ctrUnpack, 's');
    line('transfer_agents_seconds', agents, 's');
    line('transfer_agents_throughput', mib / agents, 'MiB/s');
    line('agent_source_peak_rss', peakRssMiB(cluster, 'a'), 'MiB');
    line('agent_target_peak_rss', peakRssMiB(cluster, 'b'), 'MiB');
    line('dedup_bytes_received', received / MiB, 'MiB');
    line('dedup_seconds', dedup, 's');
    line('dedup_speedup', agents / dedup, 'x');
    line('push_agent_seconds', push, 's');
    line('push_skopeo_seconds', skopeo, 's');
    line('push_ratio_vs_skopeo', skopeo / push, 'x');
    line('transfer_ratio_vs_ctr', ctrS / agents, 'x');
    line('transfer_fraction_of_limit', limit / agents);
  } finally {
    await run.stop(); // keeps only the logs
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
