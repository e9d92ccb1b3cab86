/**
 * The story `tote demo` tells, step by step, on a running sandbox cluster (real kubelets, scheduler and
 * controller-manager) and tote stack: an image that only node-1 still caches, a registry that lost it, a
 * Deployment whose pod lands on node-2 where kubelet cannot pull it, tote salvaging it, and the replacement pod
 * Running from the salvaged image.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { EventsV1Api } from '@kubernetes/client-node';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { salvageWorkflowId } from '../common/names.js';
import { listImages } from '../test/harness/containerd.js';
import { serveScript, type BuiltImage } from '../test/harness/images.js';
import { seedLostImage as seedLost } from '../test/harness/scenarios.js';
import { createNamespace } from '../test/harness/pods.js';
import { waitFor } from '../test/harness/ports.js';
import { toolPath } from '../test/harness/tools.js';
import {
  applyDeployment,
  awaitKubeletFailure,
  awaitRunning,
  podLog,
  type KubeletFailure,
} from '../test/harness/workloads.js';
import { MANIFEST_ACCEPT } from '../test/harness/registry.js';
import type { Sandbox } from '../test/harness/sandbox.js';
import { progressQuery, type SalvageResult } from '../workflows/index.js';
import { workflowUrl } from './connect.js';
import { formatBytes, ProgressLine, RateMeter, type OutStream, type Style } from './output.js';

/** What the story runs on. */
export interface Stage {
  sb: Sandbox;
  client: Client;
  out: OutStream;
  style: Style;
  /** Aborted when the demo is interrupted: the story's loops stop polling. */
  signal?: AbortSignal;
}

/** The demo image: where it lives and under which names. */
export interface DemoImage {
  image: BuiltImage;
  repo: string;
  ref: string;
}

const NAMESPACE = 'shop';
const DEPLOYMENT = 'web';

function say(st: Stage, line: string): void {
  st.out.write(`${line}\n`);
}

const execFileP = promisify(execFile);

/** Builds the image on node-1 only, pushes it, then deletes it from the registry: the outage. */
export async function seedLostImage(st: Stage, layerMiB: number): Promise<DemoImage> {
  const lost = await seedLost(st.sb, {
    repo: 'demo/web',
    spec: {
      layers: 4,
      layerSize: layerMiB << 20,
      name: 'demo-web',
      app: { script: serveScript('web 1.0: serving the shop (tote demo image)') },
    },
  });
  const { image, ref } = lost;
  say(
    st,
    `${st.style.bold('1.')} Built ${ref} (${formatBytes(image.totalSize)}, ${image.digest.slice(0, 19)}…)`,
  );
  say(st, `   It is cached on node-1 only, and the registry has just lost it (manifest deleted).`);
  return lost;
}

/**
 * Applies the opted-in Deployment (its pods go to node-2 by nodeSelector) and waits for node-2's kubelet to fail
 * pulling the image from the registry that lost it; prints kubelet's own reason and message.
 */
export async function breakPod(st: Stage, img: DemoImage): Promise<KubeletFailure> {
  const kc = st.sb.kube.kubeConfig();
  await createNamespace(kc, NAMESPACE, { 'tote.dev/allow': 'true' });
  await applyDeployment(kc, {
    namespace: NAMESPACE,
    name: DEPLOYMENT,
    node: 'node-2',
    image: img.ref,
    podAnnotations: { 'tote.dev/auto-salvage': 'true' },
  });
  const failure = await awaitKubeletFailure(kc, NAMESPACE, DEPLOYMENT, ['ErrImagePull', 'ImagePullBackOff']);
  const pod = failure.pod.metadata?.name ?? '';
  say(
    st,
    `${st.style.bold('2.')} Deployment ${NAMESPACE}/${DEPLOYMENT} (opted in) has pod ${pod} on node-2; its kubelet says ${failure.reason}:`,
  );
  say(st, `   ${failure.message}`);
  return failure;
}

/** Waits for the controller's salvage workflow and prints its detection event and Web UI link. */
export async function awaitDetection(st: Stage, img: DemoImage, pod: string): Promise<WorkflowHandle> {
  const id = salvageWorkflowId(img.image.digest, 'node-2');
  const handle = st.client.workflow.getHandle(id);
  await waitFor('the salvage workflow', async () => (await handle.describe()).workflowId === id, 60_000);
  const events = st.sb.kube.kubeConfig().makeApiClient(EventsV1Api);
  const detected = await waitFor(
    'the ImageSalvageable event',
    async () => {
      const list = await events.listNamespacedEvent({ namespace: NAMESPACE });
      return list.items.find((e) => e.regarding?.name === pod && e.reason === 'ImageSalvageable') ?? false;
    },
    60_000,
  );
  say(st, `${st.style.bold('3.')} tote detected it and started workflow ${st.style.cyan(id)}`);
  say(st, `   Event ${detected.type}/${detected.reason}: ${detected.note ?? ''}`);
  const url = workflowUrl({ uiUrl: st.sb.temporal.uiUrl, namespace: st.sb.temporal.namespace }, id);
  say(st, `   Web UI: ${url ?? '(headless)'}`);
  return handle;
}

/** Draws the transfer progress until the workflow ends; returns its result. */
export async function followTransfer(st: Stage, handle: WorkflowHandle): Promise<SalvageResult> {
  say(st, `${st.style.bold('4.')} Streaming the image node to node, blob by blob:`);
  const line = new ProgressLine(st.out, st.style);
  const meter = new RateMeter();
  const result = handle.result() as Promise<SalvageResult>;
  let finished = false;
  void result.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    if (st.signal?.aborted) throw new Error('interrupted');
    const p = await handle.query(progressQuery).catch(() => undefined);
    if (p) {
      meter.add(Date.now(), p.bytesDone);
      line.update({
        phase: p.phase,
        bytesDone: p.bytesDone,
        bytesTotal: p.bytesTotal,
        rate: meter.rate(),
        note: p.source ? `from ${p.source}` : '',
      });
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  const final = await result;
  // The workflow's own final progress, so the last line says what the transfer did.
  if (final.progress) {
    line.update({
      phase: final.progress.phase,
      bytesDone: final.progress.bytesDone,
      bytesTotal: final.progress.bytesTotal,
      rate: meter.rate(),
      note: final.progress.source ? `from ${final.progress.source}` : '',
    });
  }
  line.done();
  return final;
}

/**
 * Waits for the Deployment's pod to run on node-2 from the salvaged image, then shows it as `kubectl get pods`
 * does, the first line of its log, and how long pod failure → Running took.
 */
export async function showRunning(st: Stage, img: DemoImage, failure: KubeletFailure): Promise<boolean> {
  const kc = st.sb.kube.kubeConfig();
  const running = await awaitRunning(kc, NAMESPACE, DEPLOYMENT, { node: 'node-2', digest: img.image.digest });
  const { stdout } = await execFileP(toolPath('kubectl'), [
    '--kubeconfig',
    st.sb.kube.adminKubeconfigPath,
    'get',
    'pods',
    '-n',
    NAMESPACE,
    '-o',
    'wide',
  ]);
  const first = (await podLog(kc, running.pod)).split('\n')[0] ?? '';
  const seconds = ((running.readyAt - failure.seenAt) / 1000).toFixed(1);
  say(st, `${st.style.bold('7.')} The pod runs again (kubectl get pods -n ${NAMESPACE}):`);
  for (const line of stdout.trimEnd().split('\n')) say(st, `   ${line}`);
  say(st, `   kubectl logs ${running.pod.metadata?.name ?? ''}: ${first}`);
  say(st, `   Pod failure → Running in ${seconds} s (${failure.reason} first seen → pod Ready).`);
  return true;
}

/** Checks node-2's containerd and the backup registry, and prints the outcome. */
export async function verifyOutcome(st: Stage, img: DemoImage, r: SalvageResult): Promise<boolean> {
  const onTarget = (await listImages(st.sb.node('node-2'))).filter((i) => i.digest === img.image.digest);
  const same = onTarget.length > 0;
  say(
    st,
    `${st.style.bold('5.')} Salvage ${r.outcome === 'salvaged' ? 'complete' : r.outcome}: ${formatBytes(r.bytes ?? 0)} from ${r.source ?? '-'}; pod restarted: ${r.podRestarted ? 'yes' : 'no'}`,
  );
  say(st, `   node-2 now holds ${onTarget.map((i) => i.name).join(', ') || 'nothing'}`);
  say(
    st,
    same
      ? `   ${st.style.green('digests match')}: ${img.image.digest}`
      : `   ${st.style.red('digest mismatch')}`,
  );
  if (r.pushedTo && st.sb.registry) {
    const [, path, tag] = /^[^/]+\/(.+):([^:]+)$/.exec(r.pushedTo) ?? [];
    const res = await fetch(`${st.sb.registry.url}/v2/${path}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { accept: MANIFEST_ACCEPT },
    });
    say(
      st,
      `${st.style.bold('6.')} Backed up to ${r.pushedTo} (registry answers HTTP ${res.status}, digest ${res.headers.get('docker-content-digest') ?? '-'})`,
    );
  } else {
    say(st, `${st.style.bold('6.')} Backup push: ${st.style.yellow('not done')} (see the workflow history)`);
  }
  return same && r.outcome === 'salvaged';
}
