import { accessSync, constants } from 'node:fs';
import path from 'node:path';

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
  jsonLog: boolean;
}

/** Raw values: commander options (camelCase of the flags), strings or booleans. */
export type RawAgentFlags = Partial<Record<keyof typeof FLAGS, string | boolean>>;

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
  chunkSize: { flag: '--chunk-size', env: 'TOTE_CHUNK_SIZE', def: '1Mi' },
  maxUploadRate: { flag: '--max-upload-rate', env: 'TOTE_MAX_UPLOAD_RATE', def: '0' },
  jsonLog: { flag: '--json-log', env: 'TOTE_JSON_LOG', def: 'true' },
} as const;

type Key = keyof typeof FLAGS;

const UNITS: Record<string, number> = {
  '': 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};
const NODE_NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE_RE = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

function bad(key: Key, value: string, accepted: string): ConfigError {
  return new ConfigError(`${FLAGS[key].flag}: invalid value ${JSON.stringify(value)}; accepted: ${accepted}`);
}

/** Parses a byte size such as `512Mi`, `10Gi`, `1G` or `1048576` within [min, max]. */
export function parseSize(key: Key, value: string, min: number, max: number): number {
  const m = /^(\d+)(|K|M|G|T|Ki|Mi|Gi|Ti)$/.exec(value.trim());
  const n = m ? Number(m[1]) * (UNITS[m[2] ?? ''] ?? NaN) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw bad(key, value, `a size from ${min} to ${max} bytes, e.g. 512Mi, 10Gi (units K M G T Ki Mi Gi Ti)`);
  }
  return n;
}

/**
 * Parses a rate in bytes per second written as a size (`64Mi` is 64 MiB/s; a `/s` suffix is allowed); 0 means
 * unlimited. A non-zero rate below 1 KiB/s is refused: it would stall every transfer and is surely a typo.
 */
function parseRate(key: Key, value: string): number {
  const v = value.trim().replace(/\/s$/, '');
  const accepted = 'bytes per second as a size, e.g. 64Mi or 100M (0: unlimited; at least 1Ki)';
  let n: number;
  try {
    n = parseSize(key, v, 0, 2 ** 50);
  } catch {
    throw bad(key, value, accepted);
  }
  if (n > 0 && n < 1024) throw bad(key, value, accepted);
  return n;
}

function parseInteger(key: Key, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw bad(key, value, `an integer from ${min} to ${max}`);
  return n;
}

function parseBool(key: Key, value: string | boolean): boolean {
  if (typeof value === 'boolean') return value;
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw bad(key, value, 'true or false');
}

function parseAddr(key: Key, value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  if (i < 0) throw bad(key, value, '[host]:port, e.g. :9090 or 127.0.0.1:9090');
  return {
    host: value.slice(0, i).replace(/^\[|\]$/g, ''),
    port: parseInteger(key, value.slice(i + 1), 1, 65535),
  };
}

function readableFile(key: Key, value: string): string {
  try {
    accessSync(value, constants.R_OK);
    return value;
  } catch {
    throw bad(key, value, 'a readable PEM file');
  }
}

function tlsConfig(get: (k: Key) => string | boolean | undefined, insecure: boolean): AgentConfig['tls'] {
  const [cert, key, ca] = (['tlsCert', 'tlsKey', 'tlsCa'] as const).map((k) => get(k));
  const given = [cert, key, ca].filter(Boolean).length;
  if (given === 0 && !insecure) {
    throw new ConfigError(
      'mTLS is required: give --tls-cert, --tls-key and --tls-ca (or --insecure-dev for local development only)',
    );
  }
  if (given > 0 && insecure)
    throw new ConfigError('--insecure-dev cannot be combined with --tls-cert/--tls-key/--tls-ca');
  if (given === 0) return undefined;
  if (given < 3) throw new ConfigError('--tls-cert, --tls-key and --tls-ca must be given together');
  return {
    cert: readableFile('tlsCert', String(cert)),
    key: readableFile('tlsKey', String(key)),
    ca: readableFile('tlsCa', String(ca)),
  };
}

/**
 * Validates the agent's flags, falling back to `TOTE_*` environment variables, then defaults. Throws a
 * {@link ConfigError} naming the flag and the accepted values at the first bad value.
 */
export function parseAgentConfig(flags: RawAgentFlags, env: Record<string, string | undefined>): AgentConfig {
  const get = (k: Key): string | boolean | undefined => flags[k] ?? env[FLAGS[k].env] ?? FLAGS[k].def;
  const str = (k: Key): string => String(get(k) ?? '');
  const socket = str('containerdSocket');
  if (!path.isAbsolute(socket)) throw bad('containerdSocket', socket, 'an absolute path to containerd.sock');
  if (!NAMESPACE_RE.test(str('containerdNamespace'))) {
    throw bad('containerdNamespace', str('containerdNamespace'), 'a containerd namespace such as k8s.io');
  }
  if (!NODE_NAME_RE.test(str('nodeName'))) {
    throw bad('nodeName', str('nodeName'), "this node's Kubernetes name (required; env TOTE_NODE_NAME)");
  }
  const insecureDev = parseBool('insecureDev', get('insecureDev') ?? false);
  return {
    containerdSocket: socket,
    containerdNamespace: str('containerdNamespace'),
    bindAddress: str('bindAddress'),
    grpcPort: parseInteger('grpcPort', str('grpcPort'), 1, 65535),
    healthPort: parseInteger('healthPort', str('healthPort'), 1, 65535),
    metrics: parseAddr('metricsAddr', str('metricsAddr')),
    nodeName: str('nodeName'),
    tls: tlsConfig(get, insecureDev),
    insecureDev,
    maxConcurrentExports: parseInteger('maxConcurrentExports', str('maxConcurrentExports'), 0, 1000),
    maxImageSize: parseSize('maxImageSize', str('maxImageSize'), 1, 2 ** 50),
    chunkSize: parseSize('chunkSize', str('chunkSize'), 4096, 8 << 20),
    maxUploadRate: parseRate('maxUploadRate', str('maxUploadRate')),
    jsonLog: parseBool('jsonLog', get('jsonLog') ?? true),
  };
}
