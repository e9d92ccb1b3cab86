/**
 * Configuration of `tote controller`: flags (docs/cli-reference.md) with `TOTE_*` environment fallbacks, validated once at
 * start. A bad value throws a {@link ConfigError} naming the flag and the accepted values.
 */
import type { ConnectionOptions } from '@temporalio/client';
import { DEFAULT_TEMPORAL_ADDRESS, SALVAGE_MODES, TASK_QUEUE, type SalvageMode } from '../common/names.js';
import { flagReader, LOG_LEVELS, temporalSection } from '../infra/flags.js';

/** A configuration value that stops the process. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every flag, its environment fallback and its default (undefined: optional). */
export const CONTROLLER_FLAGS = {
  enabled: {
    flag: '--enabled',
    env: 'TOTE_ENABLED',
    def: 'true',
    help: 'global kill switch: false detects and starts nothing',
  },
  mode: {
    flag: '--mode',
    env: 'TOTE_MODE',
    def: 'auto',
    help: `default salvage mode: ${SALVAGE_MODES.join(', ')}`,
  },
  registryResolve: {
    flag: '--registry-resolve',
    env: 'TOTE_REGISTRY_RESOLVE',
    def: 'false',
    help: 'let resolveImage ask the source registry v2 API for tag-only images',
  },
  registryResolveInsecure: {
    flag: '--registry-resolve-insecure',
    env: 'TOTE_REGISTRY_RESOLVE_INSECURE',
    def: 'false',
    help: "plain HTTP to registries when resolving (applied by the worker's flag of the same name)",
  },
  metricsAddr: {
    flag: '--metrics-addr',
    env: 'TOTE_METRICS_ADDR',
    def: ':9090',
    help: '[host]:port of /metrics; the health port binds to the same host',
  },
  healthPort: {
    flag: '--health-port',
    env: 'TOTE_HEALTH_PORT',
    def: '8081',
    help: 'port of /healthz and /readyz (same as the metrics port: one server)',
  },
  temporalAddress: {
    flag: '--temporal-address',
    env: 'TOTE_TEMPORAL_ADDRESS',
    def: DEFAULT_TEMPORAL_ADDRESS,
    help: 'host:port of the Temporal frontend',
  },
  temporalNamespace: {
    flag: '--temporal-namespace',
    env: 'TOTE_TEMPORAL_NAMESPACE',
    def: 'default',
    help: 'Temporal namespace',
  },
  taskQueue: {
    flag: '--task-queue',
    env: 'TOTE_TASK_QUEUE',
    def: TASK_QUEUE,
    help: 'task queue of the tote workers',
  },
  temporalTls: {
    flag: '--temporal-tls',
    env: 'TOTE_TEMPORAL_TLS',
    def: 'false',
    help: 'connect to Temporal over TLS (implied by the cert, CA and API key options)',
  },
  temporalTlsServerName: {
    flag: '--temporal-tls-server-name',
    env: 'TOTE_TEMPORAL_TLS_SERVER_NAME',
    def: undefined,
    help: 'server name to verify',
  },
  temporalTlsCert: {
    flag: '--temporal-tls-cert',
    env: 'TOTE_TEMPORAL_TLS_CERT',
    def: undefined,
    help: 'PEM client certificate (Temporal Cloud mTLS)',
  },
  temporalTlsKey: {
    flag: '--temporal-tls-key',
    env: 'TOTE_TEMPORAL_TLS_KEY',
    def: undefined,
    help: 'PEM client key',
  },
  temporalTlsCa: {
    flag: '--temporal-tls-ca',
    env: 'TOTE_TEMPORAL_TLS_CA',
    def: undefined,
    help: 'PEM CA of the Temporal server',
  },
  temporalApiKeyFile: {
    flag: '--temporal-api-key-file',
    env: 'TOTE_TEMPORAL_API_KEY_FILE',
    def: undefined,
    help: 'file holding a Temporal Cloud API key (or set TOTE_TEMPORAL_API_KEY)',
  },
  kubeconfig: {
    flag: '--kubeconfig',
    env: 'TOTE_KUBECONFIG',
    def: undefined,
    help: 'kubeconfig file; default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account',
  },
  jsonLog: {
    flag: '--json-log',
    env: 'TOTE_JSON_LOG',
    def: 'true',
    help: 'log JSON lines (false: human-readable)',
  },
  logLevel: {
    flag: '--log-level',
    env: 'TOTE_LOG_LEVEL',
    def: 'info',
    help: 'trace, debug, info, warn, error',
  },
} as const;

/** A flag's key (the camelCase commander gives it). */
export type ControllerFlag = keyof typeof CONTROLLER_FLAGS;

/** Raw values: commander options, strings or booleans. */
export type RawControllerFlags = Partial<Record<ControllerFlag, string | boolean>>;

/** Validated configuration of the controller process. */
export interface ControllerConfig {
  enabled: boolean;
  mode: SalvageMode;
  registryResolve: boolean;
  registryResolveInsecure: boolean;
  metrics: { host: string; port: number };
  healthPort: number;
  temporal: { connection: ConnectionOptions; namespace: string; taskQueue: string };
  kubeconfig?: string;
  jsonLog: boolean;
  logLevel: string;
}

/**
 * Validates the controller's flags, falling back to environment variables (an empty variable counts as unset), then
 * defaults. Throws a {@link ConfigError} naming the flag and the accepted values at the first bad value.
 */
export function parseControllerConfig(
  flags: RawControllerFlags,
  env: Record<string, string | undefined>,
): ControllerConfig {
  const f = flagReader<ControllerFlag>({
    flags,
    env,
    spec: (k) => CONTROLLER_FLAGS[k],
    error: (message) => new ConfigError(message),
  });
  const kubeconfig = f.readable('kubeconfig');
  return {
    enabled: f.bool('enabled'),
    mode: f.oneOf('mode', SALVAGE_MODES),
    registryResolve: f.bool('registryResolve'),
    registryResolveInsecure: f.bool('registryResolveInsecure'),
    metrics: f.hostPort('metricsAddr'),
    healthPort: f.port('healthPort'),
    temporal: temporalSection(f, env),
    ...(kubeconfig ? { kubeconfig } : {}),
    jsonLog: f.bool('jsonLog'),
    logLevel: f.oneOf('logLevel', LOG_LEVELS),
  };
}
