/**
 * Flag values of the tote commands, read and validated in one way: a flag, else its `TOTE_*` variable (an empty
 * variable counts as unset, as shells and Helm's `env:` lists produce them), else an inherited value (doctor),
 * else the default. Every bad value throws the command's own error class with a message naming the flag and what
 * it accepts: `--max-image-size: invalid value "-1"; accepted: an integer from 0 to …`. Sizes and rates are written
 * the Kubernetes way (`1Mi`, `10Gi`, `64Mi/s`).
 */
import { accessSync, constants } from 'node:fs';
import { temporalConnectionOptions, type TemporalConnectionOptions } from './temporal.js';
import { readCaBundle } from './tls.js';

/** A flag in the tuple tables of the worker and doctor: name, default (undefined: optional) and help. */
export type FlagDef = readonly [flag: string, def: string | undefined, help: string];

/** Log levels every tote process accepts, lowest first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

/** The environment variable of a flag: `--max-image-size` → `TOTE_MAX_IMAGE_SIZE`. */
export function envNameOf(flag: string): string {
  return `TOTE_${flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go-style duration (`168h`, `1h30m`, `500ms`, `1.5s`); undefined when it is not one. */
export function parseDuration(value: string): number | undefined {
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * (UNIT_MS[p[2] as string] ?? 0), 0);
}

const SIZE_UNITS: Record<string, number> = {
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

/**
 * Bytes of a size written the Kubernetes way (`512Mi`, `10Gi`, `1G`, `1048576`; units K M G T Ki Mi Gi Ti, whole
 * numbers only; surrounding blanks ignored); undefined when it is not one or exceeds a safe integer.
 */
export function parseSize(value: string): number | undefined {
  const m = /^(\d+)(|K|M|G|T|Ki|Mi|Gi|Ti)$/.exec(value.trim());
  const n = m ? Number(m[1]) * (SIZE_UNITS[m[2] ?? ''] ?? NaN) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Bytes per second of a rate written as a size, `/s` allowed (`64Mi` and `64Mi/s` are 64 MiB/s); else undefined. */
export function parseRate(value: string): number | undefined {
  return parseSize(value.trim().replace(/\/s$/, ''));
}

/** The smallest non-zero rate {@link FlagReader.rate} accepts: anything slower stalls transfers and is a typo. */
export const MIN_RATE = 1024;

/** Where a command's flag values come from and how its errors look. */
export interface FlagSource<K extends string> {
  /** Command-line values (commander's camelCase keys): strings or booleans. */
  flags: Partial<Record<K, string | boolean>>;
  env: Record<string, string | undefined>;
  /** Name, default and (when it is not {@link envNameOf} the name) environment variable of a flag. */
  spec(key: K): { flag: string; def: string | undefined; env?: string };
  /** Values from elsewhere (doctor: the worker's command line), below the environment, above the default. */
  inherited?: Partial<Record<K, string | boolean>>;
  /** The command's own error (each command maps its class to exit code 2). */
  error(message: string): Error;
}

/** Typed, validated reads of one command's flags; every failure names the flag. */
export interface FlagReader<K extends string> {
  /** The raw value as a string; undefined when unset and without default. */
  get(key: K): string | undefined;
  /** The error for a bad value: `<flag>: invalid value "<value>"; accepted: <accepted>`. */
  bad(key: K, value: string, accepted: string): Error;
  /** The command's error with a message of the caller's (combinations of flags). */
  error(message: string): Error;
  /** true/1/yes or false/0/no; unset is false. */
  bool(key: K): boolean;
  /** A decimal integer within [min, max]. */
  int(key: K, min: number, max?: number): number;
  /** A TCP port, 1 to 65535. */
  port(key: K): number;
  /** Milliseconds of a positive Go duration. */
  duration(key: K): number;
  /** The path, checked readable now (a clear start-up error, not a failure at first use); undefined when unset. */
  readable(key: K): string | undefined;
  /** The certificates of a PEM CA bundle file, read now (missing, unreadable or broken stops the start). */
  caBundle(key: K): string[] | undefined;
  /** `[host]:port` (an empty host binds every address). */
  hostPort(key: K): { host: string; port: number };
  /** One of `allowed`. */
  oneOf<T extends string>(key: K, allowed: readonly T[]): T;
  /** A non-blank string, trimmed. */
  nonEmpty(key: K): string;
  /** Bytes of a size ({@link parseSize}: `512Mi`, `10Gi`, `1G`, `1048576`) within [min, max]. */
  size(key: K, min: number, max?: number): number;
  /**
   * Bytes per second of a rate ({@link parseRate}: `64Mi`, `64Mi/s`) up to max; 0 means unlimited, and a non-zero
   * rate below {@link MIN_RATE} is refused.
   */
  rate(key: K, max?: number): number;
}

/** The reader of one command's flags. */
export function flagReader<K extends string>(src: FlagSource<K>): FlagReader<K> {
  const r: FlagReader<K> = {
    get: (k) => {
      const { flag, def, env } = src.spec(k);
      const v = src.flags[k] ?? (src.env[env ?? envNameOf(flag)] || undefined) ?? src.inherited?.[k] ?? def;
      return v === undefined ? undefined : String(v);
    },
    bad: (k, value, accepted) =>
      src.error(`${src.spec(k).flag}: invalid value ${JSON.stringify(value)}; accepted: ${accepted}`),
    error: (message) => src.error(message),
    bool: (k) => {
      const v = r.get(k);
      if (v === undefined || ['true', '1', 'yes'].includes(v)) return v !== undefined;
      if (['false', '0', 'no'].includes(v)) return false;
      throw r.bad(k, v, 'true or false');
    },
    int: (k, min, max = Number.MAX_SAFE_INTEGER) => {
      const v = r.get(k) ?? '';
      const n = /^\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max)
        throw r.bad(k, v, `an integer from ${min} to ${max}`);
      return n;
    },
    port: (k) => {
      const v = r.get(k) ?? '';
      if (!isPort(v)) throw r.bad(k, v, 'a port from 1 to 65535');
      return Number(v);
    },
    duration: (k) => {
      const v = r.get(k) ?? '';
      const ms = parseDuration(v);
      if (ms === undefined || ms <= 0) throw r.bad(k, v, 'a positive Go duration such as 90s, 5m, 168h');
      return ms;
    },
    readable: (k) => {
      const v = r.get(k);
      if (v === undefined) return undefined;
      try {
        accessSync(v, constants.R_OK);
        return v;
      } catch {
        throw r.bad(k, v, 'a readable file');
      }
    },
    caBundle: (k) => {
      const file = r.readable(k);
      if (file === undefined) return undefined;
      try {
        return readCaBundle(file);
      } catch (err) {
        throw r.bad(k, file, `a PEM file of CA certificates (${(err as Error).message})`);
      }
    },
    hostPort: (k) => {
      const v = r.get(k) ?? '';
      const i = v.lastIndexOf(':');
      if (i < 0 || !isPort(v.slice(i + 1))) {
        throw r.bad(k, v, '[host]:port with a port from 1 to 65535, e.g. :9090 or 127.0.0.1:9090');
      }
      return { host: v.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(v.slice(i + 1)) };
    },
    oneOf: (k, allowed) => {
      const v = r.get(k) ?? '';
      const hit = allowed.find((a) => a === v);
      if (hit === undefined) throw r.bad(k, v, allowed.join(', '));
      return hit;
    },
    nonEmpty: (k) => {
      const v = r.get(k) ?? '';
      if (!v.trim()) throw r.bad(k, v, 'a non-empty string');
      return v.trim();
    },
    size: (k, min, max = Number.MAX_SAFE_INTEGER) => {
      const v = r.get(k) ?? '';
      const n = parseSize(v);
      if (n === undefined || n < min || n > max) {
        throw r.bad(k, v, `a size from ${min} to ${max} bytes, e.g. 512Mi, 10Gi (units K M G T Ki Mi Gi Ti)`);
      }
      return n;
    },
    rate: (k, max = Number.MAX_SAFE_INTEGER) => {
      const v = r.get(k) ?? '';
      const n = parseRate(v);
      if (n === undefined || n > max || (n > 0 && n < MIN_RATE)) {
        throw r.bad(k, v, 'bytes per second as a size, e.g. 64Mi or 100M/s (0: unlimited; at least 1Ki)');
      }
      return n;
    },
  };
  return r;
}

function isPort(v: string): boolean {
  const n = /^\d{1,5}$/.test(v) ? Number(v) : 0;
  return n >= 1 && n <= 65535;
}

/** The keys of the Temporal connection section, the same in every command that talks to Temporal. */
export type TemporalFlag =
  | 'temporalAddress'
  | 'temporalNamespace'
  | 'taskQueue'
  | 'temporalTls'
  | 'temporalTlsCert'
  | 'temporalTlsKey'
  | 'temporalTlsCa'
  | 'temporalTlsServerName'
  | 'temporalApiKeyFile';

/** Where and how to reach Temporal. */
export interface TemporalSection {
  connection: TemporalConnectionOptions;
  namespace: string;
  taskQueue: string;
}

/**
 * The Temporal section of a command's flags, through infra/temporal.ts. Files are checked readable first so that
 * the error names their flag; the API key comes from `TOTE_TEMPORAL_API_KEY` only (never argv).
 */
export function temporalSection(
  r: FlagReader<TemporalFlag>,
  env: Record<string, string | undefined>,
): TemporalSection {
  const [tlsCert, tlsKey, tlsCa, apiKeyFile] = (
    ['temporalTlsCert', 'temporalTlsKey', 'temporalTlsCa', 'temporalApiKeyFile'] as const
  ).map((k) => r.readable(k));
  const tls = r.bool('temporalTls');
  let connection: TemporalConnectionOptions;
  try {
    connection = temporalConnectionOptions({
      address: r.get('temporalAddress') ?? '',
      tls,
      tlsCert,
      tlsKey,
      tlsCa,
      tlsServerName: r.get('temporalTlsServerName'),
      apiKeyFile,
      apiKey: env.TOTE_TEMPORAL_API_KEY || undefined,
    });
  } catch (err) {
    // infra/temporal.ts names the flag in a plain Error: give it the command's class.
    throw r.error((err as Error).message);
  }
  return { connection, namespace: r.nonEmpty('temporalNamespace'), taskQueue: r.nonEmpty('taskQueue') };
}
