/**
 * Temporal connection options from the connection flags: the local dev server (plaintext), a self-hosted
 * cluster (TLS, optionally mTLS with a private CA), or Temporal Cloud (mTLS or an API key; an API key turns TLS
 * on by itself). Files are read here, once, at start; a problem names the flag.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_TEMPORAL_ADDRESS } from '../common/names.js';

/** The connection flags, as strings and booleans from the CLI or environment. */
export interface TemporalConnectionFlags {
  /** `--temporal-address` host:port. */
  address: string;
  /** `--temporal-tls`. */
  tls?: boolean;
  /** `--temporal-tls-cert` and `--temporal-tls-key` (PEM files, together). */
  tlsCert?: string;
  tlsKey?: string;
  /** `--temporal-tls-ca` (PEM file) for a private CA. */
  tlsCa?: string;
  /** `--temporal-tls-server-name`. */
  tlsServerName?: string;
  /** `--temporal-api-key-file`. */
  apiKeyFile?: string;
  /** `TOTE_TEMPORAL_API_KEY`: the key itself, from the environment only (never argv, never logged). */
  apiKey?: string;
}

/** TLS settings in the shape both `Connection.connect` and `NativeConnection.connect` take. */
export interface TemporalTls {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
}

/** What `NativeConnection.connect` (worker) or `Connection.connect` (client) needs. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TemporalTls;
  apiKey?: string;
}

function read(flag: string, file: string, readFile: (f: string) => Buffer): Buffer {
  try {
    return readFile(file);
  } catch (err) {
    throw new Error(`${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

function apiKeyOf(f: TemporalConnectionFlags, readFile: (file: string) => Buffer): string | undefined {
  if (!f.apiKeyFile) return f.apiKey || undefined;
  const key = read('--temporal-api-key-file', f.apiKeyFile, readFile).toString('utf8').trim();
  if (!key) throw new Error(`--temporal-api-key-file: ${f.apiKeyFile} is empty`);
  return key;
}

function tlsOf(f: TemporalConnectionFlags, readFile: (file: string) => Buffer): TemporalTls | undefined {
  if (Boolean(f.tlsCert) !== Boolean(f.tlsKey)) {
    throw new Error('--temporal-tls-cert and --temporal-tls-key must be given together');
  }
  if (f.tls !== true && !f.tlsCert && !f.tlsCa && !f.tlsServerName) return undefined;
  const tls: TemporalTls = {};
  if (f.tlsServerName) tls.serverNameOverride = f.tlsServerName;
  if (f.tlsCa) tls.serverRootCACertificate = read('--temporal-tls-ca', f.tlsCa, readFile);
  if (f.tlsCert && f.tlsKey) {
    tls.clientCertPair = {
      crt: read('--temporal-tls-cert', f.tlsCert, readFile),
      key: read('--temporal-tls-key', f.tlsKey, readFile),
    };
  }
  return tls;
}

/** Builds the connection options; throws an Error naming the flag on a bad combination or unreadable file. */
export function temporalConnectionOptions(
  f: TemporalConnectionFlags,
  readFile: (file: string) => Buffer = readFileSync,
): TemporalConnectionOptions {
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/.test(f.address)) {
    throw new Error(
      `--temporal-address: invalid value "${f.address}"; expected host:port, e.g. ${DEFAULT_TEMPORAL_ADDRESS}`,
    );
  }
  const tls = tlsOf(f, readFile);
  const apiKey = apiKeyOf(f, readFile);
  // An API key without explicit TLS settings: the SDK turns TLS on itself (Temporal Cloud's default).
  return { address: f.address, ...(tls ? { tls } : {}), ...(apiKey ? { apiKey } : {}) };
}
