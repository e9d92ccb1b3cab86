/**
 * Configuration of `tote agent`: flags with `TOTE_*` environment fallbacks (an empty variable counts as unset), read
 * through infra/flags.ts and validated once at start. A bad value throws a {@link ConfigError} naming the flag and
 * the accepted values.
 */
import path from 'node:path';
import { flagReader, type FlagReader } from '../infra/flags.js';

/** Validated configuration of the `tote agent` process. */
export interface AgentConfig {
  containerdSocket: string;
  containerdNamespace: string;
  /** Address every server binds to. @default "0.0.0.0" */
  bindAddress: string;
  grpcPort: number;
  healthPort: number;
  metrics: { host: string; port: number };
  nodeName: string;
  /** mTLS files; undefined only with {@link insecureDev}. */
  tls?: { cert: string; key: string; ca: string };
  insecureDev: boolean;
  maxConcurrentExports: number;
  maxImageSize: number;
  chunkSize: number;
  /** Upload budget in bytes per second for blobs served to peers, shared by all exports; 0: unlimited. */
  maxUploadRate: number;
  /**
   * PEM certificates of `--backup-registry-ca`, trusted besides the public roots for the backup registry's HTTPS
   * (pushes), read and checked at start; undefined: public roots only.
   */
  backupRegistryCa?: string[];
  jsonLog: boolean;
}

/** Raw values: commander options (camelCase of the flags), strings or booleans. */
export type RawAgentFlags = Partial<Record<AgentFlag, string | boolean>>;

/** A configuration value that stops the process; the message names the flag and what it accepts. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every flag, its environment fallback and its default (undefined: required or optional). */
export const FLAGS = {
  containerdSocket: {
    flag: '--containerd-socket',
    env: 'TOTE_CONTAINERD_SOCKET',
    def: '/run/containerd/containerd.sock',
  },
  containerdNamespace: { flag: '--containerd-namespace', env: 'TOTE_CONTAINERD_NAMESPACE', def: 'k8s.io' },
  bindAddress: { flag: '--bind-address', env: 'TOTE_BIND_ADDRESS', def: '0.0.0.0' },
  grpcPort: { flag: '--grpc-port', env: 'TOTE_GRPC_PORT', def: '9443' },
  healthPort: { flag: '--health-port', env: 'TOTE_HEALTH_PORT', def: '8081' },
  metricsAddr: { flag: '--metrics-addr', env: 'TOTE_METRICS_ADDR', def: ':9090' },
  nodeName: { flag: '--node-name', env: 'TOTE_NODE_NAME', def: undefined },
  tlsCert: { flag: '--tls-cert', env: 'TOTE_TLS_CERT', def: undefined },
  tlsKey: { flag: '--tls-key', env: 'TOTE_TLS_KEY', def: undefined },
  tlsCa: { flag: '--tls-ca', env: 'TOTE_TLS_CA', def: undefined },
  insecureDev: { flag: '--insecure-dev', env: 'TOTE_INSECURE_DEV', def: 'false' },
  maxConcurrentExports: { flag: '--max-concurrent-exports', env: 'TOTE_MAX_CONCURRENT_EXPORTS', def: '4' },
  maxImageSize: { flag: '--max-image-size', env: 'TOTE_MAX_IMAGE_SIZE', def: '10Gi' },
  chunkSize: { flag: '--chunk-size', env: 'TOTE_CHUNK_SIZE', def: '3Mi' },
  maxUploadRate: { flag: '--max-upload-rate', env: 'TOTE_MAX_UPLOAD_RATE', def: '0' },
  backupRegistryCa: { flag: '--backup-registry-ca', env: 'TOTE_BACKUP_REGISTRY_CA', def: undefined },
  jsonLog: { flag: '--json-log', env: 'TOTE_JSON_LOG', def: 'true' },
} as const;

/** A flag's key (the camelCase commander gives it). */
export type AgentFlag = keyof typeof FLAGS;

const NODE_NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE_RE = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

function agentFlags(flags: RawAgentFlags, env: Record<string, string | undefined>): FlagReader<AgentFlag> {
  return flagReader<AgentFlag>({
    flags,
    env,
    spec: (k) => FLAGS[k],
    error: (message) => new ConfigError(message),
  });
}

/**
 * Bytes of a size given for one of the agent's flags, within [min, max]; a {@link ConfigError} naming the flag
 * otherwise. For callers that check a value before agents start (bench/scale.ts); the agent reads its own flags
 * with {@link parseAgentConfig}.
 */
export function parseSize(key: AgentFlag, value: string, min: number, max: number): number {
  return agentFlags({ [key]: value }, {}).size(key, min, max);
}

function tlsConfig(f: FlagReader<AgentFlag>, insecure: boolean): AgentConfig['tls'] {
  const given = (['tlsCert', 'tlsKey', 'tlsCa'] as const).filter((k) => f.get(k)).length;
  if (given === 0 && !insecure) {
    throw f.error(
      'mTLS is required: give --tls-cert, --tls-key and --tls-ca (or --insecure-dev for local development only)',
    );
  }
  if (given > 0 && insecure)
    throw f.error('--insecure-dev cannot be combined with --tls-cert/--tls-key/--tls-ca');
  if (given === 0) return undefined;
  if (given < 3) throw f.error('--tls-cert, --tls-key and --tls-ca must be given together');
  const [cert, key, ca] = [f.readable('tlsCert'), f.readable('tlsKey'), f.readable('tlsCa')];
  return { cert: cert ?? '', key: key ?? '', ca: ca ?? '' };
}

/** The containerd socket, namespace and node name: strings that only a pattern can check. */
function identity(
  f: FlagReader<AgentFlag>,
): Pick<AgentConfig, 'containerdSocket' | 'containerdNamespace' | 'nodeName'> {
  const socket = f.get('containerdSocket') ?? '';
  if (!path.isAbsolute(socket))
    throw f.bad('containerdSocket', socket, 'an absolute path to containerd.sock');
  const namespace = f.get('containerdNamespace') ?? '';
  if (!NAMESPACE_RE.test(namespace)) {
    throw f.bad('containerdNamespace', namespace, 'a containerd namespace such as k8s.io');
  }
  const nodeName = f.get('nodeName') ?? '';
  if (!NODE_NAME_RE.test(nodeName)) {
    throw f.bad('nodeName', nodeName, "this node's Kubernetes name (required; env TOTE_NODE_NAME)");
  }
  return { containerdSocket: socket, containerdNamespace: namespace, nodeName };
}

/**
 * Validates the agent's flags, falling back to `TOTE_*` environment variables (an empty variable counts as unset),
 * then defaults. Throws a {@link ConfigError} naming the flag and the accepted values at the first bad value.
 */
export function parseAgentConfig(flags: RawAgentFlags, env: Record<string, string | undefined>): AgentConfig {
  const f = agentFlags(flags, env);
  const ids = identity(f);
  const insecureDev = f.bool('insecureDev');
  return {
    ...ids,
    bindAddress: f.get('bindAddress') ?? '',
    grpcPort: f.port('grpcPort'),
    healthPort: f.port('healthPort'),
    metrics: f.hostPort('metricsAddr'),
    tls: tlsConfig(f, insecureDev),
    insecureDev,
    maxConcurrentExports: f.int('maxConcurrentExports', 0, 1000),
    maxImageSize: f.size('maxImageSize', 1, 2 ** 50),
    chunkSize: f.size('chunkSize', 4096, 8 << 20),
    maxUploadRate: f.rate('maxUploadRate', 2 ** 50),
    backupRegistryCa: f.caBundle('backupRegistryCa'),
    jsonLog: f.bool('jsonLog'),
  };
}
