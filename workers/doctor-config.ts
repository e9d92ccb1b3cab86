/**
 * Configuration of `tote doctor`. It checks what the worker uses, so it takes the worker's connection flags
 * (same names, same `TOTE_*` fallbacks) plus a few of its own. Run inside the worker pod (`kubectl exec
 * deploy/<release>-worker -- tote doctor`), it also inherits the worker's flags from the container's main
 * process (the chart passes them as arguments): a flag or variable given to doctor wins over an inherited one.
 */
import { accessSync, constants } from 'node:fs';
import { TASK_QUEUE } from '../common/names.js';
import { temporalConnectionOptions, type TemporalConnectionOptions } from '../infra/temporal.js';
import type { AgentDialOptions } from './agent-port.js';
import { parseDuration, WORKER_FLAGS } from './worker-config.js';

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

type Flag = readonly [flag: string, def: string | undefined, help: string];

/** Every doctor flag: the worker's connection flags, then doctor's own. */
export const DOCTOR_FLAGS: Record<DoctorFlag, Flag> = {
  ...(Object.fromEntries(SHARED.map((k) => [k, WORKER_FLAGS[k]])) as Record<(typeof SHARED)[number], Flag>),
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
  return `TOTE_${DOCTOR_FLAGS[key][0].slice(2).replace(/-/g, '_').toUpperCase()}`;
}

/** Validated configuration. */
export interface DoctorConfig {
  kubeconfig?: string;
  temporal: { connection: TemporalConnectionOptions; namespace: string; taskQueue: string };
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

type Get = (k: DoctorFlag) => string | undefined;

function bad(key: DoctorFlag, value: string, accepted: string): DoctorConfigError {
  return new DoctorConfigError(
    `${DOCTOR_FLAGS[key][0]}: invalid value ${JSON.stringify(value)}; accepted: ${accepted}`,
  );
}

function bool(get: Get, key: DoctorFlag): boolean {
  const v = get(key);
  if (v === undefined || ['true', '1', 'yes'].includes(v)) return v !== undefined;
  if (['false', '0', 'no'].includes(v)) return false;
  throw bad(key, v, 'true or false');
}

function readable(get: Get, key: DoctorFlag): string | undefined {
  const v = get(key);
  if (v === undefined) return undefined;
  try {
    accessSync(v, constants.R_OK);
    return v;
  } catch {
    throw bad(key, v, 'a readable file');
  }
}

function template(get: Get, key: DoctorFlag, url: boolean): string | undefined {
  const v = get(key);
  if (v === undefined) return undefined;
  if (!/\{node(IP)?\}/.test(v) || (url && !/^https?:\/\/\S+$/.test(v))) {
    throw bad(key, v, `${url ? 'an http(s) URL' : 'host:port'} containing {node} or {nodeIP}`);
  }
  return v;
}

function httpUrl(get: Get, key: DoctorFlag): string | undefined {
  const v = get(key);
  if (v !== undefined && !/^https?:\/\/\S+$/.test(v))
    throw bad(key, v, 'an http(s) URL, e.g. http://10.0.0.5:8081/readyz');
  return v;
}

function getter(
  flags: RawDoctorFlags,
  env: Record<string, string | undefined>,
  inherited: RawDoctorFlags,
): Get {
  return (k) => {
    const v = flags[k] ?? (env[doctorEnvName(k)] || undefined) ?? inherited[k] ?? DOCTOR_FLAGS[k][1];
    return v === undefined ? undefined : String(v);
  };
}

/** `o` without its undefined values (so optional fields stay absent, not undefined). */
function defined<T extends Record<string, string | undefined>>(o: T): Partial<Record<keyof T, string>> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<
    Record<keyof T, string>
  >;
}

function agentPort(get: Get): number {
  const v = get('agentPort') ?? '';
  const port = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(port >= 1 && port <= 65535)) throw bad('agentPort', v, 'an integer from 1 to 65535');
  return port;
}

function timeout(get: Get): number {
  const v = get('timeout') ?? '';
  const ms = parseDuration(v);
  if (!ms) throw bad('timeout', v, 'a positive Go duration such as 5s, 1m');
  return ms;
}

function agentDial(get: Get): AgentDialOptions | undefined {
  const serverName = get('tlsServerName');
  if (bool(get, 'insecurePlaintext')) return { insecure: true, serverName };
  const [cert, key, ca] = [readable(get, 'tlsCert'), readable(get, 'tlsKey'), readable(get, 'tlsCa')];
  if (!cert && !key && !ca) return undefined;
  if (!cert || !key || !ca) throw new DoctorConfigError('--tls-cert, --tls-key and --tls-ca go together');
  return { tls: { cert, key, ca }, serverName };
}

function temporal(get: Get, env: Record<string, string | undefined>): DoctorConfig['temporal'] {
  try {
    const connection = temporalConnectionOptions({
      address: get('temporalAddress') ?? '',
      tls: bool(get, 'temporalTls'),
      tlsCert: get('temporalTlsCert'),
      tlsKey: get('temporalTlsKey'),
      tlsCa: get('temporalTlsCa'),
      tlsServerName: get('temporalTlsServerName'),
      apiKeyFile: get('temporalApiKeyFile'),
      apiKey: env.TOTE_TEMPORAL_API_KEY || undefined,
    });
    return {
      connection,
      namespace: get('temporalNamespace') ?? 'default',
      taskQueue: get('taskQueue') ?? TASK_QUEUE,
    };
  } catch (err) {
    throw new DoctorConfigError((err as Error).message);
  }
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
  const get = getter(flags, env, inherited);
  return {
    kubeconfig: readable(get, 'kubeconfig'),
    temporal: temporal(get, env),
    agents: {
      namespace: get('agentNamespace') ?? '',
      selector: get('agentSelector') ?? '',
      port: agentPort(get),
      ...defined({
        endpointTemplate: template(get, 'agentEndpointTemplate', false),
        healthTemplate: template(get, 'agentHealthTemplate', true),
      }),
      dial: agentDial(get),
    },
    ...defined({ controllerUrl: httpUrl(get, 'controllerUrl'), workerUrl: httpUrl(get, 'workerUrl') }),
    timeoutMs: timeout(get),
  };
}
