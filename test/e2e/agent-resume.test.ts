import { randomBytes } from 'node:crypto';
import { credentials, Metadata } from '@grpc/grpc-js';
import {
  ContentClient,
  type ListStatusesResponse,
} from '../../proto/gen/containerd/services/content/v1/content.js';
import { ImportPhase } from '../../proto/gen/tote/v1/agent.js';
import { startRealCluster, transfer, type RealCluster } from '../agent-contract/real.js';
import { ctr, listContent } from '../harness/containerd.js';
import { buildImage, importToNode } from '../harness/images.js';
import { waitFor } from '../harness/ports.js';
import { Run } from '../harness/run.js';

const TIMEOUT = 300_000;
let run: Run;
let cluster: RealCluster;

beforeAll(async () => {
  run = Run.create('agent-resume');
  // Small chunks on the source slow the stream enough to kill the target in the middle of a blob.
  cluster = await startRealCluster(run, ['a', 'c'], { args: { a: ['--chunk-size', '16Ki'] } });
}, TIMEOUT);

afterAll(async () => {
  await run?.stop();
}, TIMEOUT);

/** Ingests in progress on node c: ref → bytes written (containerd's ListStatuses). */
async function active(): Promise<Map<string, number>> {
  const client = new ContentClient(
    `unix://${cluster.node('c').containerd.socket}`,
    credentials.createInsecure(),
  );
  const md = new Metadata();
  md.set('containerd-namespace', 'k8s.io');
  try {
    const res = await new Promise<ListStatusesResponse>((resolve, reject) =>
      client.listStatuses({ filters: [] }, md, (e, r) => (e ? reject(e) : resolve(r))),
    );
    return new Map(res.statuses.map((st) => [st.ref, Number(st.offset)]));
  } finally {
    client.close();
  }
}

test(
  'given the target agent killed in the middle of a large blob, a retry resumes and re-sends no committed blob',
  async () => {
    const img = await buildImage(run, { layers: 2, layerSize: 96 << 20 });
    await importToNode(cluster.node('a').containerd, img, 'registry.example/big:v1');
    const token = randomBytes(24).toString('base64url');
    const names = ['registry.example/big:v1'];
    const first = transfer(cluster, { digest: img.digest, from: ['a'], to: 'c', names, token }).catch(
      (e: unknown) => e,
    );
    await waitFor(
      'a partial layer on c',
      async () => [...(await active()).values()].some((n) => n > 0),
      120_000,
    );
    await cluster.node('c').kill();
    expect(await first).toBeInstanceOf(Error);
    const committed = new Set(await listContent(cluster.node('c').containerd));
    const partial = await active();
    expect([...partial.values()].some((n) => n > 0)).toBe(true);
    expect(await ctr(cluster.node('c').containerd, ['images', 'ls', '-q'])).not.toContain(
      'registry.example/big',
    );

    await cluster.node('c').start();
    const done = await transfer(cluster, { digest: img.digest, from: ['a'], to: 'c', names, token });
    expect(done.phase).toBe(ImportPhase.IMPORT_PHASE_DONE);
    const p = img.platforms[0];
    if (!p) throw new Error('platform');
    const leaves = [p.config, ...p.layers];
    const stillMissing = leaves.filter((d) => !committed.has(d.digest));
    const resumedFrom = (d: { digest: string }): number =>
      partial.get(`tote-${d.digest.replace(':', '-')}`) ?? 0;
    expect(done.blobsSkipped).toBe(
      leaves.length - stillMissing.length + img.manifestDigests.filter((m) => committed.has(m)).length,
    );
    expect(Number(done.bytesReceived)).toBe(stillMissing.reduce((n, d) => n + d.size - resumedFrom(d), 0));
    expect(await listContent(cluster.node('c').containerd)).toEqual(
      expect.arrayContaining([img.digest, ...img.layerDigests, ...img.configDigests]),
    );
  },
  TIMEOUT,
);
