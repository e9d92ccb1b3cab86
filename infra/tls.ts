import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';

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
 * Server credentials for mTLS: TLS 1.3 only, client certificates required and verified against the CA. The
 * files are re-read by {@link reload} (and by {@link watch}), so rotated certificates apply to new connections
 * without a restart.
 */
export class ReloadingServerCredentials extends ServerCredentials {
  constructor(private readonly files: TlsFiles) {
    super({ requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, contextOptions(files));
  }

  /** Re-reads the PEM files; a broken set (half-written rotation) is ignored and the old one kept. */
  reload(): boolean {
    try {
      const opts = contextOptions(this.files);
      createSecureContext(opts); // validate before handing it to the server
      this.updateSecureContextOptions(opts);
      return true;
    } catch {
      return false;
    }
  }

  /** Polls the files every `intervalMs` and reloads on change; returns the function that stops watching. */
  watch(intervalMs: number, onReload?: (ok: boolean) => void): () => void {
    const paths = [this.files.cert, this.files.key, this.files.ca];
    const listener = (): void => {
      const ok = this.reload();
      onReload?.(ok);
    };
    for (const p of paths) watchFile(p, { interval: intervalMs, persistent: false }, listener);
    return () => paths.forEach((p) => unwatchFile(p, listener));
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
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
