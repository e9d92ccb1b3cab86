import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toolPath } from './tools.js';

/** A PEM certificate and key on disk. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** A certificate authority on disk that can issue leaf certificates. */
export interface CA extends CertFiles {
  dir: string;
  name: string;
}

/** What a leaf certificate is for. */
export interface LeafOptions {
  /** File name stem, e.g. "apiserver" gives apiserver.crt / apiserver.key. */
  name: string;
  commonName: string;
  /** Organizations (Kubernetes groups for client certificates). */
  organizations?: string[];
  /** DNS names and IP addresses; IPs become IP SANs. */
  sans?: string[];
  usage: 'server' | 'client' | 'both';
}

function openssl(args: string[]): void {
  execFileSync(toolPath('openssl'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates a self-signed ECDSA P-256 CA valid for 7 days in `dir`. */
export function createCA(dir: string, name: string): CA {
  mkdirSync(dir, { recursive: true });
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-sha256',
    '-days',
    '7',
    '-subj',
    `/CN=${name}`,
    '-out',
    cert,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { dir, name, cert, key };
}

const IP_RE = /^(\d{1,3}\.){3}\d{1,3}$|:/;

/** Issues an ECDSA P-256 leaf certificate signed by `ca`, valid for 7 days. */
export function issueCert(ca: CA, opts: LeafOptions): CertFiles {
  const key = path.join(ca.dir, `${opts.name}.key`);
  const cert = path.join(ca.dir, `${opts.name}.crt`);
  const csr = path.join(ca.dir, `${opts.name}.csr`);
  const ext = path.join(ca.dir, `${opts.name}.ext`);
  const subject = `/CN=${opts.commonName}${(opts.organizations ?? []).map((o) => `/O=${o}`).join('')}`;
  const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[opts.usage];
  const sans = (opts.sans ?? []).map((s) => (IP_RE.test(s) ? `IP:${s}` : `DNS:${s}`));
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${eku}`,
      ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
    ].join('\n'),
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '7',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return { cert, key };
}
