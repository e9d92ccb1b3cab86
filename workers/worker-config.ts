/**
 * Configuration of `tote worker`: the flags of docs/cli-reference.md (names of the original tote where they exist) with
 * `TOTE_*` environment fallbacks, validated once at start. A bad value throws a {@link WorkerConfigError} naming
 * the flag and the accepted values.
 */
import type { ActivityConfig } from '../activities/deps.js';
import type { WebhookEvent } from '../activities/types.js';
import { isAgentTemplate } from '../common/agent-endpoint.js';
import { DEFAULT_TEMPORAL_ADDRESS, SALVAGE_MODES, TASK_QUEUE } from '../common/names.js';
import {
  envNameOf,
  flagReader,
  LOG_LEVELS,
  temporalSection,
  type FlagDef,
  type FlagReader,
  type TemporalSection,
} from '../infra/flags.js';
import type { AgentDialOptions } from './agent-port.js';
import type { ScanScheduleConfig } from './scan-schedule.js';

/** A configuration value that stops the process. */
export class WorkerConfigError extends Error {
  override name = 'WorkerConfigError';
}

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
  registryResolveTimeout: [
    '--registry-resolve-timeout',
    '5s',
    'timeout of each request to a registry when resolving a tag (Go duration)',
  ],
  registryResolveCa: [
    '--registry-resolve-ca',
    undefined,
    'PEM bundle of CAs trusted besides the public roots for registry HTTPS when resolving a tag',
  ],
  pullPolicyRemedy: [
    '--pull-policy-remedy',
    'false',
    'allow switching a workload from imagePullPolicy Always to IfNotPresent where tote.dev/pull-policy-remedy opts in',
  ],
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
    'comma list of detected,salvaged,salvage_failed,pushed,push_failed,pull_policy_always,pull_policy_changed',
  ],
  webhookSecret: ['--webhook-secret', undefined, 'HMAC-SHA256 key signing each payload (prefer the env var)'],
  webhookTimeout: ['--webhook-timeout', '10s', 'timeout of one webhook POST (Go duration)'],
  temporalAddress: ['--temporal-address', DEFAULT_TEMPORAL_ADDRESS, 'host:port of the Temporal frontend'],
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
} as const satisfies Record<string, FlagDef>;

/** A flag's key (the camelCase commander gives it). */
export type WorkerFlag = keyof typeof WORKER_FLAGS;

/** Raw values: commander options, strings or booleans. */
export type RawWorkerFlags = Partial<Record<WorkerFlag, string | boolean>>;

/** The environment variable of a flag: `--max-image-size` → `TOTE_MAX_IMAGE_SIZE`. */
export function envName(key: WorkerFlag): string {
  return envNameOf(WORKER_FLAGS[key][0]);
}

/** Validated configuration of the worker process. */
export interface WorkerConfig {
  activities: ActivityConfig;
  temporal: TemporalSection;
  agents: AgentDialOptions & { namespace: string; selector: string };
  maxConcurrentSalvages: number;
  maxUploadsPerSource: number;
  reapIntervalMs: number;
  /** The scheduled last-copy scan; absent when `--scan-interval` is unset (off). */
  scan?: ScanScheduleConfig;
  registryResolveInsecure: boolean;
  /** Timeout of each request of a tag resolution (`--registry-resolve-timeout`). */
  registryResolveTimeoutMs: number;
  /** PEM certificates of `--registry-resolve-ca`, read and checked at start; undefined: public roots only. */
  registryResolveCa?: string[];
  kubeconfig?: string;
  metrics: { host: string; port: number };
  healthPort: number;
  jsonLog: boolean;
  logLevel: string;
}

type Flags = FlagReader<WorkerFlag>;

function webhook(f: Flags, env: Record<string, string | undefined>): ActivityConfig['webhook'] {
  const url = f.get('webhookUrl');
  if (!url) return undefined;
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw f.bad('webhookUrl', url, 'an http(s) URL');
  const all: WebhookEvent[] = [
    'detected',
    'salvaged',
    'salvage_failed',
    'pushed',
    'push_failed',
    'pull_policy_always',
    'pull_policy_changed',
  ];
  const events = (f.get('webhookEvents') ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const e of events)
    if (!all.includes(e as WebhookEvent)) throw f.bad('webhookEvents', e, all.join(', '));
  const secret = f.get('webhookSecret') ?? (env.TOTE_WEBHOOK_SECRET || undefined);
  return { url, events: events as WebhookEvent[], secret, timeoutMs: f.duration('webhookTimeout') };
}

function backup(f: Flags): ActivityConfig['backup'] {
  const registry = f.get('backupRegistry');
  if (!registry) return undefined;
  if (!/^[a-zA-Z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?$/.test(registry)) {
    throw f.bad('backupRegistry', registry, 'host[:port][/prefix], e.g. backup.example:5000/salvaged');
  }
  const s = f.get('backupRegistrySecret');
  const [ns, name] = s?.includes('/') ? s.split('/', 2) : [f.get('agentNamespace'), s];
  return {
    registry,
    insecure: f.bool('backupRegistryInsecure'),
    ...(s ? { secret: { namespace: ns ?? '', name: name ?? '' } } : {}),
  };
}

function scanSchedule(f: Flags): ScanScheduleConfig | undefined {
  if (f.get('scanInterval') === undefined) return undefined;
  return {
    everyMs: f.duration('scanInterval'),
    minCopies: f.int('scanMinCopies', 0, 1000),
    registryInsecure: f.bool('scanRegistryInsecure'),
  };
}

function agentDial(f: Flags): AgentDialOptions {
  const serverName = f.get('tlsServerName');
  if (f.bool('insecurePlaintext')) return { insecure: true, serverName };
  const [cert, key, ca] = [f.readable('tlsCert'), f.readable('tlsKey'), f.readable('tlsCa')];
  if (!cert || !key || !ca) {
    throw new WorkerConfigError(
      '--tls-cert, --tls-key and --tls-ca are required to reach the agents (or --insecure-plaintext for development)',
    );
  }
  return { tls: { cert, key, ca }, serverName };
}

function agents(f: Flags): WorkerConfig['agents'] & { discovery: ActivityConfig['agents'] } {
  const template = f.get('agentEndpointTemplate');
  if (template !== undefined && !isAgentTemplate(template)) {
    throw f.bad('agentEndpointTemplate', template, 'host:port containing {node} or {nodeIP}');
  }
  const port = f.port('agentPort');
  return {
    namespace: f.get('agentNamespace') ?? '',
    selector: f.get('agentSelector') ?? '',
    discovery: template ? { kind: 'template', template } : { kind: 'pods', port },
    ...agentDial(f),
  };
}

/**
 * Validates the worker's flags, falling back to environment variables (an empty variable counts as unset), then
 * to defaults. Throws a {@link WorkerConfigError} naming the flag at the first bad value.
 */
export function parseWorkerConfig(
  flags: RawWorkerFlags,
  env: Record<string, string | undefined>,
): WorkerConfig {
  const f = flagReader<WorkerFlag>({
    flags,
    env,
    spec: (k) => ({ flag: WORKER_FLAGS[k][0], def: WORKER_FLAGS[k][1] }),
    error: (message) => new WorkerConfigError(message),
  });
  const mode = f.oneOf('mode', SALVAGE_MODES);
  const { discovery, ...agentDial } = agents(f);
  return {
    activities: {
      mode,
      maxImageSizeBytes: f.int('maxImageSize', 0),
      approveTimeoutMs: f.duration('approveTimeout'),
      transferAttempts: f.int('transferAttempts', 1, 100),
      sessionTtlSeconds: Math.ceil(f.duration('sessionTtl') / 1000),
      salvageRecordTtlSeconds: Math.ceil(f.duration('salvagerecordTtl') / 1000),
      agents: discovery,
      backup: backup(f),
      webhook: webhook(f, env),
      registryResolve: f.bool('registryResolve'),
      pullPolicyRemedy: f.bool('pullPolicyRemedy'),
    },
    temporal: temporalSection(f, env),
    agents: agentDial,
    maxConcurrentSalvages: f.int('maxConcurrentSalvages', 0, 1000),
    maxUploadsPerSource: f.int('maxUploadsPerSource', 0, 1000),
    reapIntervalMs: f.duration('reapInterval'),
    scan: scanSchedule(f),
    registryResolveInsecure: f.bool('registryResolveInsecure'),
    registryResolveTimeoutMs: f.duration('registryResolveTimeout'),
    registryResolveCa: f.caBundle('registryResolveCa'),
    kubeconfig: f.readable('kubeconfig'),
    metrics: f.hostPort('metricsAddr'),
    healthPort: f.port('healthPort'),
    jsonLog: f.bool('jsonLog'),
    logLevel: f.oneOf('logLevel', LOG_LEVELS),
  };
}
