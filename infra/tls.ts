import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { SecureServerOptions } from 'node:http2';
import { ChannelCredentials } from '@grpc/grpc-js';

/** PEM files of one identity plus the CA that signs its peers. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/** The SNI / authority name every agent certificate carries, so one SAN serves every pod. @default "tote-agent" */
export const AGENT_TLS_NAME = 'tote-agent';

function contextOptions(files: TlsFiles): SecureContextOptions {
  return {
    ca: readFileSync(files.ca),
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    minVersion: 'TLSv1.3',
  };
}

/**
 * The mTLS settings of a server: TLS 1.3 only, client certificates required and verified against the CA (a peer
 * without one is refused at the handshake). The files are read when asked, so rotated certificates apply to new
 * connections without a restart (see {@link watch}).
 */
export class ServerTls {
  constructor(private readonly files: TlsFiles) {}

  /** The server options, read from the files now (throws when they are unreadable or do not match). */
  options(): SecureServerOptions {
    const opts = contextOptions(this.files);
    createSecureContext(opts); // validate: a key that does not match its certificate fails here, not later
    return { ...opts, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] };
  }

  /** {@link options}, or undefined for a broken set (e.g. a half-written rotation: keep the old one). */
  tryOptions(): SecureServerOptions | undefined {
    try {
      return this.options();
    } catch {
      return undefined;
    }
  }

  /** Polls the files every `intervalMs` and calls `onChange` after any change; returns the function that stops. */
  watch(intervalMs: number, onChange: () => void): () => void {
    const paths = [this.files.cert, this.files.key, this.files.ca];
    const listener = (): void => onChange();
    for (const p of paths) watchFile(p, { interval: intervalMs, persistent: false }, listener);
    return () => paths.forEach((p) => unwatchFile(p, listener));
  }
}

/** Channel options that pin the TLS name (SNI and authority) to {@link AGENT_TLS_NAME} or `serverName`. */
export function tlsChannelOptions(serverName = AGENT_TLS_NAME): Record<string, string> {
  return { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName };
}

/**
 * The same client identity as {@link clientCredentials}, as node:tls options (read now), for connections made
 * without grpc-js: TLS 1.3, our certificate, the peer verified against the CA under the name `serverName`.
 */
export function clientTlsOptions(
  files: TlsFiles,
  serverName = AGENT_TLS_NAME,
): SecureContextOptions & { servername: string } {
  return { ...contextOptions(files), servername: serverName };
}

/** Client credentials for mTLS (TLS 1.3, our certificate, peers verified against the CA), read now. */
export function clientCredentials(files: TlsFiles): ChannelCredentials {
  return ChannelCredentials.createFromSecureContext(createSecureContext(contextOptions(files)));
}

/** The subject CN of a PEM certificate file (an agent's identity), or undefined. */
export function certificateCN(certFile: string): string | undefined {
  const subject = new X509Certificate(readFileSync(certFile)).subject;
  return /^CN=(.*)$/m.exec(subject)?.[1];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle file (a CA to trust, e.g. `--registry-resolve-ca`), each checked to parse;
 * throws when the file is unreadable, holds no certificate or a broken one.
 */
export function readCaBundle(file: string): string[] {
  const pems = readFileSync(file, 'utf8').match(PEM_CERT) ?? [];
  if (pems.length === 0) throw new Error('no PEM certificate in it');
  pems.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new Error(`certificate ${i + 1} does not parse: ${(err as Error).message}`, { cause: err });
    }
  });
  return pems;
}
