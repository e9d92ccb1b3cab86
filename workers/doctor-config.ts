/**
 * Configuration of `tote doctor`. It checks what the worker uses, so it takes the worker's connection flags
 * (same names, same `TOTE_*` fallbacks) plus a few of its own. Run inside the worker pod (`kubectl exec
 * deploy/<release>-worker -- tote doctor`), it also inherits the worker's flags from the container's main
 * process (the chart passes them as arguments): a flag or variable given to doctor wins over an inherited one.
 */
import { isAgentTemplate } from '../common/agent-endpoint.js';
import {
  envNameOf,
  flagReader,
  temporalSection,
  type FlagDef,
  type FlagReader,
  type TemporalSection,
} from '../infra/flags.js';
import type { AgentDialOptions } from './agent-port.js';
import { WORKER_FLAGS } from './worker-config.js';

/** A value that makes doctor's command line unusable (exit code 2). */
export class DoctorConfigError extends Error {
  override name = 'DoctorConfigError';
}

const SHARED = [
  'kubeconfig',
  'agentNamespace',
  'agentSelector',
  'agentPort',
  'agentEndpointTemplate',
  'tlsCert',
  'tlsKey',
  'tlsCa',
  'tlsServerName',
  'insecurePlaintext',
  'temporalAddress',
  'temporalNamespace',
  'taskQueue',
  'temporalTls',
  'temporalTlsCert',
  'temporalTlsKey',
  'temporalTlsCa',
  'temporalTlsServerName',
  'temporalApiKeyFile',
] as const;

/** Every doctor flag: the worker's connection flags, then doctor's own. */
export const DOCTOR_FLAGS: Record<DoctorFlag, FlagDef> = {
  ...(Object.fromEntries(SHARED.map((k) => [k, WORKER_FLAGS[k]])) as Record<
    (typeof SHARED)[number],
    FlagDef
  >),
  agentHealthTemplate: [
    '--agent-health-template',
    undefined,
    "http(s) URL of each agent's /readyz with {node} or {nodeIP} (tote outside Kubernetes)",
  ],
  controllerUrl: ['--controller-url', undefined, "controller's /readyz URL, instead of its Deployment"],
  workerUrl: ['--worker-url', undefined, "worker's /readyz URL, instead of its Deployment"],
  timeout: ['--timeout', '10s', 'deadline of each check (Go duration)'],
};

/** A flag's key (commander's camelCase). */
export type DoctorFlag =
  (typeof SHARED)[number] | 'agentHealthTemplate' | 'controllerUrl' | 'workerUrl' | 'timeout';

/** Flags that take no value. */
export const DOCTOR_BOOLEAN_FLAGS: readonly DoctorFlag[] = ['insecurePlaintext', 'temporalTls'];

/** Raw values from commander (or inherited from the worker's command line). */
export type RawDoctorFlags = Partial<Record<DoctorFlag, string | boolean>>;

/** The environment variable of a flag: `--agent-port` → `TOTE_AGENT_PORT`. */
export function doctorEnvName(key: DoctorFlag): string {
  return envNameOf(DOCTOR_FLAGS[key][0]);
}

/** Validated configuration. */
export interface DoctorConfig {
  kubeconfig?: string;
  temporal: TemporalSection;
  agents: {
    namespace: string;
    selector: string;
    port: number;
    endpointTemplate?: string;
    healthTemplate?: string;
    /** Undefined when neither certificates nor --insecure-plaintext were given: agents cannot be dialled. */
    dial?: AgentDialOptions;
  };
  controllerUrl?: string;
  workerUrl?: string;
  timeoutMs: number;
}

/**
 * The flags of a `tote worker` command line (`node bin/tote.js worker --flag=value …`), limited to doctor's;
 * undefined when `cmdline` is not a tote worker.
 */
export function inheritWorkerFlags(cmdline: string[]): RawDoctorFlags | undefined {
  const at = cmdline.indexOf('worker');
  if (at < 1 || !cmdline.slice(0, at).some((a) => /(^|\/)tote(\.js)?$/.test(a))) return undefined;
  const byFlag = new Map(SHARED.map((k) => [DOCTOR_FLAGS[k][0], k as DoctorFlag]));
  const out: RawDoctorFlags = {};
  const args = cmdline.slice(at + 1);
  for (let i = 0; i < args.length; i++) {
    const [flag = '', ...rest] = (args[i] ?? '').split('=');
    const key = byFlag.get(flag);
    if (!key) continue;
    const next = args[i + 1];
    if (rest.length) out[key] = rest.join('=');
    else if (DOCTOR_BOOLEAN_FLAGS.includes(key)) out[key] = true;
    else if (next !== undefined && !next.startsWith('--')) out[key] = args[++i];
  }
  return out;
}

type Flags = FlagReader<DoctorFlag>;

function template(f: Flags, key: DoctorFlag, url: boolean): string | undefined {
  const v = f.get(key);
  if (v === undefined) return undefined;
  if (!isAgentTemplate(v) || (url && !/^https?:\/\/\S+$/.test(v))) {
    throw f.bad(key, v, `${url ? 'an http(s) URL' : 'host:port'} containing {node} or {nodeIP}`);
  }
  return v;
}

function httpUrl(f: Flags, key: DoctorFlag): string | undefined {
  const v = f.get(key);
  if (v !== undefined && !/^https?:\/\/\S+$/.test(v))
    throw f.bad(key, v, 'an http(s) URL, e.g. http://10.0.0.5:8081/readyz');
  return v;
}

/** `o` without its undefined values (so optional fields stay absent, not undefined). */
function defined<T extends Record<string, string | undefined>>(o: T): Partial<Record<keyof T, string>> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<
    Record<keyof T, string>
  >;
}

function agentDial(f: Flags): AgentDialOptions | undefined {
  const serverName = f.get('tlsServerName');
  if (f.bool('insecurePlaintext')) return { insecure: true, serverName };
  const [cert, key, ca] = [f.readable('tlsCert'), f.readable('tlsKey'), f.readable('tlsCa')];
  if (!cert && !key && !ca) return undefined;
  if (!cert || !key || !ca) throw f.error('--tls-cert, --tls-key and --tls-ca go together');
  return { tls: { cert, key, ca }, serverName };
}

/**
 * Validates doctor's flags: a flag, else its `TOTE_*` variable (empty counts as unset), else the inherited worker
 * flag, else the default. Throws a {@link DoctorConfigError} naming the flag at the first bad value.
 */
export function parseDoctorConfig(
  flags: RawDoctorFlags,
  env: Record<string, string | undefined>,
  inherited: RawDoctorFlags = {},
): DoctorConfig {
  const f = flagReader<DoctorFlag>({
    flags,
    env,
    inherited,
    spec: (k) => ({ flag: DOCTOR_FLAGS[k][0], def: DOCTOR_FLAGS[k][1] }),
    error: (message) => new DoctorConfigError(message),
  });
  return {
    kubeconfig: f.readable('kubeconfig'),
    temporal: temporalSection(f, env),
    agents: {
      namespace: f.get('agentNamespace') ?? '',
      selector: f.get('agentSelector') ?? '',
      port: f.port('agentPort'),
      ...defined({
        endpointTemplate: template(f, 'agentEndpointTemplate', false),
        healthTemplate: template(f, 'agentHealthTemplate', true),
      }),
      dial: agentDial(f),
    },
    ...defined({ controllerUrl: httpUrl(f, 'controllerUrl'), workerUrl: httpUrl(f, 'workerUrl') }),
    timeoutMs: f.duration('timeout'),
  };
}
