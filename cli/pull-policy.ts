/**
 * `tote pull-policy revert`: undoes the `imagePullPolicy` switch the worker made for an incident
 * (`tote.dev/pull-policy-remedy`), reading what it changed from the workload's `tote.dev/pull-policy-changed`
 * annotation, putting the old policy back and removing the annotation.
 */
import { Option, type Command } from 'commander';
import {
  AppsV1Api,
  BatchV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import { ANNOTATIONS } from '../common/names.js';
import { pullPolicyPatch, type ContainerList } from '../common/pull-policy.js';
import { addKubeOptions, loadKubeConfig, type KubeFlags } from './connect.js';
import { UserError } from './errors.js';

const KINDS: Record<string, string> = {
  deployment: 'Deployment',
  statefulset: 'StatefulSet',
  daemonset: 'DaemonSet',
  replicaset: 'ReplicaSet',
  cronjob: 'CronJob',
};

/** What the worker wrote on the workload when it switched the policy. */
interface ChangeNote {
  container: string;
  list: ContainerList;
  from: string;
}

function parseWorkload(arg: string): { kind: string; name: string } {
  const [kind = '', name = ''] = arg.split('/');
  const full = KINDS[kind.toLowerCase()];
  if (!full || !name || arg.split('/').length !== 2) {
    throw new UserError(
      `workload "${arg}": expected <kind>/<name> with kind one of ${Object.keys(KINDS).join(', ')}`,
      2,
    );
  }
  return { kind: full, name };
}

function parseNote(raw: string | undefined, what: string): ChangeNote {
  if (!raw)
    throw new UserError(`${what} has no ${ANNOTATIONS.pullPolicyChanged} annotation: nothing to revert`);
  try {
    const n = JSON.parse(raw) as Partial<ChangeNote>;
    const lists: ContainerList[] = ['containers', 'initContainers'];
    if (
      typeof n.container === 'string' &&
      typeof n.from === 'string' &&
      lists.includes(n.list as ContainerList)
    ) {
      return { container: n.container, list: n.list as ContainerList, from: n.from };
    }
  } catch {
    // reported below
  }
  throw new UserError(`${what}: ${ANNOTATIONS.pullPolicyChanged} is not what tote writes: ${raw}`);
}

async function readMeta(
  kc: KubeConfig,
  namespace: string,
  w: { kind: string; name: string },
): Promise<V1ObjectMeta> {
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const req = { namespace, name: w.name };
  const readers: Record<string, () => Promise<{ metadata?: V1ObjectMeta }>> = {
    Deployment: () => apps.readNamespacedDeployment(req),
    StatefulSet: () => apps.readNamespacedStatefulSet(req),
    DaemonSet: () => apps.readNamespacedDaemonSet(req),
    ReplicaSet: () => apps.readNamespacedReplicaSet(req),
    CronJob: () => batch.readNamespacedCronJob(req),
  };
  const obj = await (readers[w.kind] as () => Promise<{ metadata?: V1ObjectMeta }>)();
  return obj.metadata ?? {};
}

async function patch(kc: KubeConfig, namespace: string, w: { kind: string; name: string }, body: object) {
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const req = { namespace, name: w.name, body };
  const opt = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  const patchers: Record<string, () => Promise<unknown>> = {
    Deployment: () => apps.patchNamespacedDeployment(req, opt),
    StatefulSet: () => apps.patchNamespacedStatefulSet(req, opt),
    DaemonSet: () => apps.patchNamespacedDaemonSet(req, opt),
    ReplicaSet: () => apps.patchNamespacedReplicaSet(req, opt),
    CronJob: () => batch.patchNamespacedCronJob(req, opt),
  };
  await (patchers[w.kind] as () => Promise<unknown>)();
}

/** Options of `tote pull-policy revert`. */
interface RevertOptions extends KubeFlags {
  namespace: string;
}

async function revert(workloadArg: string, opts: RevertOptions): Promise<void> {
  const w = parseWorkload(workloadArg);
  const what = `${w.kind.toLowerCase()}/${w.name} in ${opts.namespace}`;
  const kc = loadKubeConfig(opts);
  const meta = await readMeta(kc, opts.namespace, w).catch((err: unknown) => {
    const code = (err as { code?: number }).code;
    throw new UserError(code === 404 ? `${what}: not found` : `${what}: cannot read it: ${String(err)}`);
  });
  const note = parseNote(meta.annotations?.[ANNOTATIONS.pullPolicyChanged], what);
  const template = pullPolicyPatch(
    w,
    note.container,
    note.list,
    note.from === 'Always' ? 'Always' : 'IfNotPresent',
  );
  if (!template) throw new UserError(`${what}: tote does not change pull policies of a ${w.kind}`);
  // null removes the annotation in a strategic-merge (and JSON merge) patch.
  await patch(kc, opts.namespace, w, {
    ...template,
    metadata: { annotations: { [ANNOTATIONS.pullPolicyChanged]: null } },
  });
  process.stdout.write(
    `Reverted container ${note.container} of ${what} to imagePullPolicy: ${note.from} ` +
      `(its pods pull from the registry again on every start).\n`,
  );
}

/** Registers `tote pull-policy revert`. */
export function registerPullPolicy(program: Command): void {
  const group = program
    .command('pull-policy')
    .description('Undo what tote.dev/pull-policy-remedy changed on a workload during an incident.');
  addKubeOptions(
    group
      .command('revert <workload>')
      .description(
        'Put back the imagePullPolicy tote switched to IfNotPresent (read from the workload\u2019s ' +
          `${ANNOTATIONS.pullPolicyChanged} annotation), and remove the annotation.`,
      )
      .addOption(new Option('-n, --namespace <ns>', 'namespace of the workload').makeOptionMandatory())
      .addHelpText('after', '\nExample:\n  tote pull-policy revert -n shop deployment/web\n'),
  ).action((workload: string, opts: RevertOptions) => revert(workload, opts));
}
