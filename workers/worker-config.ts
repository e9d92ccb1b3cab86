/**
 * Configuration of `tote worker`: the flags of DESIGN §2 (names of the original tote where they exist) with
 * `TOTE_*` environment fallbacks, validated once at start. A bad value throws a {@link WorkerConfigError} naming
 * the flag and the accepted values.
 */
import { accessSync, constants } from 'node:fs';
import type { ActivityConfig } from '../activities/deps.js';
import type { WebhookEvent } from '../activities/types.js';
import { SALVAGE_MODES, TASK_QUEUE } from '../common/names.js';
import { temporalConnectionOptions, type TemporalConnectionOptions } from '../infra/temporal.js';
import type { AgentDialOptions } from './agent-port.js';
import type { ScanScheduleConfig } from './scan-schedule.js';

/** A configuration value that stops the process. */
export class WorkerConfigError extends Error {
  override name = 'WorkerConfigError';
}

type Flag = readonly [flag: string, def: string | undefined, help: string];

/** Every flag: name, default (undefined: optional) and help. The env fallback is `TOTE_` + SCREAMING_CASE. */
export const WORKER_FLAGS = {
  mode: [
    '--mode',
    'auto',
    `default salvage mode: ${SALVAGE_MODES.join(', ')} (namespace tote.dev/mode wins)`,
  ],
  approveTimeout: ['--approve-timeout', '1h', 'how long approve mode waits for a decision (Go duration)'],
  maxConcurrentSalvages: ['--max-concurrent-salvages', '2', 'transfers this worker runs at once (0: no cap)'],
  maxUploadsPerSource: [
    '--max-uploads-per-source',
    '2',
    'transfers served by one source node at once (0: no cap)',
  ],
  maxImageSize: ['--max-image-size', '2147483648', 'largest image moved, in bytes (0: no limit)'],
  transferAttempts: ['--transfer-attempts', '3', 'attempts per source before the next source is tried'],
  sessionTtl: ['--session-ttl', '5m', 'lifetime of a transfer session on the source agent (Go duration)'],
  salvagerecordTtl: ['--salvagerecord-ttl', '168h', 'how long SalvageRecords are kept (Go duration)'],
  reapInterval: ['--reap-interval', '1h', 'how often the reaper schedule runs (Go duration)'],
  scanInterval: [
    '--scan-interval',
    undefined,
    'run the last-copy scan on this schedule (Go duration; off when unset)',
  ],
  scanMinCopies: ['--scan-min-copies', '1', 'scheduled scans flag images held by at most this many nodes'],
  scanRegistryInsecure: [
    '--scan-registry-insecure',
    'false',
    'plain HTTP to source registries in scheduled scans',
  ],
  agentNamespace: ['--agent-namespace', 'tote-system', 'namespace of the agent DaemonSet'],
  agentSelector: [
    '--agent-selector',
    'app.kubernetes.io/component=agent',
    'label selector of the agent pods',
  ],
  agentPort: ['--agent-port', '9443', 'gRPC port of the agents'],
  agentEndpointTemplate: [
    '--agent-endpoint-template',
    undefined,
    'host:port with {node} or {nodeIP}, instead of agent pods',
  ],
  tlsCert: ['--tls-cert', undefined, 'client certificate (PEM) for the agents (mTLS)'],
  tlsKey: ['--tls-key', undefined, 'client key (PEM) for the agents'],
  tlsCa: ['--tls-ca', undefined, 'CA (PEM) that signs the agents'],
  tlsServerName: ['--tls-server-name', 'tote-agent', 'name the agent certificates carry'],
  insecurePlaintext: ['--insecure-plaintext', 'false', 'talk to agents without TLS (development only)'],
  registryResolve: ['--registry-resolve', 'false', 'allow tag resolution through the registry v2 API'],
  registryResolveInsecure: ['--registry-resolve-insecure', 'false', 'plain HTTP for registry resolution'],
  backupRegistry: ['--backup-registry', undefined, 'registry host[:port][/prefix] for backup pushes'],
  backupRegistrySecret: [
    '--backup-registry-secret',
    undefined,
    'dockerconfigjson Secret: name or namespace/name',
  ],
  backupRegistryInsecure: ['--backup-registry-insecure', 'false', 'plain HTTP to the backup registry'],
  webhookUrl: ['--webhook-url', undefined, 'where JSON event notifications are POSTed'],
  webhookEvents: [
    '--webhook-events',
    '',
    'comma list of detected,salvaged,salvage_failed,pushed,push_failed',
  ],
  webhookSecret: ['--webhook-secret', undefined, 'HMAC-SHA256 key signing each payload (prefer the env var)'],
  webhookTimeout: ['--webhook-timeout', '10s', 'timeout of one webhook POST (Go duration)'],
  temporalAddress: ['--temporal-address', '127.0.0.1:7233', 'host:port of the Temporal frontend'],
  temporalNamespace: ['--temporal-namespace', 'default', 'Temporal namespace'],
  taskQueue: ['--task-queue', TASK_QUEUE, 'task queue to poll'],
  temporalTls: ['--temporal-tls', 'false', 'TLS to Temporal (implied by the cert, CA and API key options)'],
  temporalTlsCert: ['--temporal-tls-cert', undefined, 'client certificate (PEM) for Temporal mTLS'],
  temporalTlsKey: ['--temporal-tls-key', undefined, 'client key (PEM) for Temporal mTLS'],
  temporalTlsCa: ['--temporal-tls-ca', undefined, 'CA (PEM) of the Temporal server'],
  temporalTlsServerName: ['--temporal-tls-server-name', undefined, 'server name to verify'],
  temporalApiKeyFile: ['--temporal-api-key-file', undefined, 'file holding a Temporal Cloud API key'],
  kubeconfig: ['--kubeconfig', undefined, 'kubeconfig; default $KUBECONFIG, ~/.kube/config, then in-cluster'],
  metricsAddr: ['--metrics-addr', ':9090', '[host]:port of /metrics'],
  healthPort: ['--health-port', '8081', 'port of /healthz and /readyz'],
  jsonLog: ['--json-log', 'true', 'JSON log lines (false: human-readable)'],
  logLevel: ['--log-level', 'info', 'trace, debug, info, warn, error'],
} as const satisfies Record<string, Flag>;

/** A flag's key (the camelCase commander gives it). */
export type WorkerFlag = keyof typeof WORKER_FLAGS;

/** Raw values: commander options, strings or booleans. */
export type RawWorkerFlags = Partial<Record<WorkerFlag, string | boolean>>;

/** The environment variable of a flag: `--max-image-size` → `TOTE_MAX_IMAGE_SIZE`. */
export function envName(key: WorkerFlag): string {
  return `TOTE_${WORKER_FLAGS[key][0].slice(2).replace(/-/g, '_').toUpperCase()}`;
}

/** Validated configuration of the worker process. */
export interface WorkerConfig {
  activities: ActivityConfig;
  temporal: { connection: TemporalConnectionOptions; namespace: string; taskQueue: string };
  agents: AgentDialOptions & { namespace: string; selector: string };
  maxConcurrentSalvages: number;
  maxUploadsPerSource: number;
  reapIntervalMs: number;
  /** The scheduled last-copy scan; absent when `--scan-interval` is unset (off). */
  scan?: ScanScheduleConfig;
  registryResolveInsecure: boolean;
  kubeconfig?: string;
  metrics: { host: string; port: number };
  healthPort: number;
  jsonLog: boolean;
  logLevel: string;
}

type Get = (k: WorkerFlag) => string | undefined;

function bad(key: WorkerFlag, value: string, accepted: string): WorkerConfigError {
  return new WorkerConfigError(
    `${WORKER_FLAGS[key][0]}: invalid value ${JSON.stringify(value)}; accepted: ${accepted}`,
  );
}

function bool(get: Get, key: WorkerFlag): boolean {
  const v = get(key);
  if (v === undefined || ['true', '1', 'yes'].includes(v)) return v !== undefined;
  if (['false', '0', 'no'].includes(v)) return false;
  throw bad(key, v, 'true or false');
}

function int(get: Get, key: WorkerFlag, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = get(key) ?? '';
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw bad(key, v, `an integer from ${min} to ${max}`);
  return n;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go-style duration (`168h`, `1h30m`, `500ms`). */
export function parseDuration(value: string): number | undefined {
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * (UNIT_MS[p[2] as string] ?? 0), 0);
}

function duration(get: Get, key: WorkerFlag): number {
  const v = get(key) ?? '';
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw bad(key, v, 'a positive Go duration such as 90s, 5m, 168h');
  return ms;
}

function readable(get: Get, key: WorkerFlag): string | undefined {
  const v = get(key);
  if (v === undefined) return undefined;
  try {
    accessSync(v, constants.R_OK);
    return v;
  } catch {
    throw bad(key, v, 'a readable file');
  }
}

function hostPort(get: Get, key: WorkerFlag): { host: string; port: number } {
  const v = get(key) ?? '';
  const i = v.lastIndexOf(':');
  const port = Number(v.slice(i + 1));
  if (i < 0 || !/^\d+$/.test(v.slice(i + 1)) || port < 1 || port > 65535)
    throw bad(key, v, '[host]:port, e.g. :9090');
  return { host: v.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

function webhook(get: Get, env: Record<string, string | undefined>): ActivityConfig['webhook'] {
  const url = get('webhookUrl');
  if (!url) return undefined;
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw bad('webhookUrl', url, 'an http(s) URL');
  const all: WebhookEvent[] = ['detected', 'salvaged', 'salvage_failed', 'pushed', 'push_failed'];
  const events = (get('webhookEvents') ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const e of events) if (!all.includes(e as WebhookEvent)) throw bad('webhookEvents', e, all.join(', '));
  const secret = get('webhookSecret') ?? (env.TOTE_WEBHOOK_SECRET || undefined);
  return { url, events: events as WebhookEvent[], secret, timeoutMs: duration(get, 'webhookTimeout') };
}

function backup(get: Get): ActivityConfig['backup'] {
  const registry = get('backupRegistry');
  if (!registry) return undefined;
  if (!/^[a-zA-Z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?$/.test(registry)) {
    throw bad('backupRegistry', registry, 'host[:port][/prefix], e.g. backup.example:5000/salvaged');
  }
  const s = get('backupRegistrySecret');
  const [ns, name] = s?.includes('/') ? s.split('/', 2) : [get('agentNamespace'), s];
  return {
    registry,
    insecure: bool(get, 'backupRegistryInsecure'),
    ...(s ? { secret: { namespace: ns ?? '', name: name ?? '' } } : {}),
  };
}

function scanSchedule(get: Get): ScanScheduleConfig | undefined {
  if (get('scanInterval') === undefined) return undefined;
  return {
    everyMs: duration(get, 'scanInterval'),
    minCopies: int(get, 'scanMinCopies', 0, 1000),
    registryInsecure: bool(get, 'scanRegistryInsecure'),
  };
}

function agentDial(get: Get): AgentDialOptions {
  const serverName = get('tlsServerName');
  if (bool(get, 'insecurePlaintext')) return { insecure: true, serverName };
  const [cert, key, ca] = [readable(get, 'tlsCert'), readable(get, 'tlsKey'), readable(get, 'tlsCa')];
  if (!cert || !key || !ca) {
    throw new WorkerConfigError(
      '--tls-cert, --tls-key and --tls-ca are required to reach the agents (or --insecure-plaintext for development)',
    );
  }
  return { tls: { cert, key, ca }, serverName };
}

function agents(get: Get): WorkerConfig['agents'] & { discovery: ActivityConfig['agents'] } {
  const template = get('agentEndpointTemplate');
  if (template !== undefined && !/\{node(IP)?\}/.test(template)) {
    throw bad('agentEndpointTemplate', template, 'host:port containing {node} or {nodeIP}');
  }
  const port = int(get, 'agentPort', 1, 65535);
  return {
    namespace: get('agentNamespace') ?? '',
    selector: get('agentSelector') ?? '',
    discovery: template ? { kind: 'template', template } : { kind: 'pods', port },
    ...agentDial(get),
  };
}

function temporal(get: Get, env: Record<string, string | undefined>): WorkerConfig['temporal'] {
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
    throw new WorkerConfigError((err as Error).message);
  }
}

/**
 * Validates the worker's flags, falling back to environment variables (an empty variable counts as unset), then
 * to defaults. Throws a {@link WorkerConfigError} naming the flag at the first bad value.
 */
export function parseWorkerConfig(
  flags: RawWorkerFlags,
  env: Record<string, string | undefined>,
): WorkerConfig {
  const get: Get = (k) => {
    const v = flags[k] ?? (env[envName(k)] || undefined) ?? WORKER_FLAGS[k][1];
    return v === undefined ? undefined : String(v);
  };
  const mode = SALVAGE_MODES.find((m) => m === get('mode'));
  if (!mode) throw bad('mode', get('mode') ?? '', SALVAGE_MODES.join(', '));
  const { discovery, ...agentDial } = agents(get);
  const logLevel = get('logLevel') ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error'].includes(logLevel))
    throw bad('logLevel', logLevel, 'trace, debug, info, warn, error');
  return {
    activities: {
      mode,
      maxImageSizeBytes: int(get, 'maxImageSize', 0),
      approveTimeoutMs: duration(get, 'approveTimeout'),
      transferAttempts: int(get, 'transferAttempts', 1, 100),
      sessionTtlSeconds: Math.ceil(duration(get, 'sessionTtl') / 1000),
      salvageRecordTtlSeconds: Math.ceil(duration(get, 'salvagerecordTtl') / 1000),
      agents: discovery,
      backup: backup(get),
      webhook: webhook(get, env),
      registryResolve: bool(get, 'registryResolve'),
    },
    temporal: temporal(get, env),
    agents: agentDial,
    maxConcurrentSalvages: int(get, 'maxConcurrentSalvages', 0, 1000),
    maxUploadsPerSource: int(get, 'maxUploadsPerSource', 0, 1000),
    reapIntervalMs: duration(get, 'reapInterval'),
    scan: scanSchedule(get),
    registryResolveInsecure: bool(get, 'registryResolveInsecure'),
    kubeconfig: readable(get, 'kubeconfig'),
    metrics: hostPort(get, 'metricsAddr'),
    healthPort: int(get, 'healthPort', 1, 65535),
    jsonLog: bool(get, 'jsonLog'),
    logLevel,
  };
}
