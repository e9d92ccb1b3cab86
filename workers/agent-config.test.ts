import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCA } from '../test/harness/pki.js';
import { ConfigError, parseAgentConfig, parseSize } from './agent-config.js';

const base = { nodeName: 'node-a', insecureDev: true };

test('defaults: k8s.io namespace, the chart ports, 3 MiB chunks, 10 GiB images', () => {
  expect(parseAgentConfig(base, {})).toMatchObject({
    containerdSocket: '/run/containerd/containerd.sock',
    containerdNamespace: 'k8s.io',
    grpcPort: 9443,
    healthPort: 8081,
    metrics: { host: '', port: 9090 },
    chunkSize: 3 << 20,
    maxImageSize: 10 * 1024 ** 3,
    maxConcurrentExports: 4,
    maxUploadRate: 0,
    insecureDev: true,
    tls: undefined,
    backupRegistryCa: undefined,
  });
});

test('environment variables fill in missing flags; flags win', () => {
  const cfg = parseAgentConfig(
    { insecureDev: true, grpcPort: '7000' },
    { TOTE_NODE_NAME: 'n1', TOTE_GRPC_PORT: '8000', TOTE_CHUNK_SIZE: '256Ki' },
  );
  expect(cfg).toMatchObject({ nodeName: 'n1', grpcPort: 7000, chunkSize: 256 * 1024 });
});

test.each([
  [{ grpcPort: '70000' }, '--grpc-port'],
  [{ grpcPort: 'abc' }, '--grpc-port'],
  [{ metricsAddr: '9090' }, '--metrics-addr'],
  [{ chunkSize: '1Gi' }, '--chunk-size'],
  [{ maxImageSize: '10 GB' }, '--max-image-size'],
  [{ maxConcurrentExports: '-1' }, '--max-concurrent-exports'],
  [{ containerdSocket: 'relative.sock' }, '--containerd-socket'],
  [{ containerdNamespace: 'bad ns' }, '--containerd-namespace'],
  [{ nodeName: '' }, '--node-name'],
  [{ jsonLog: 'maybe' }, '--json-log'],
  [{ maxUploadRate: '-1' }, '--max-upload-rate'],
  [{ maxUploadRate: 'fast' }, '--max-upload-rate'],
  [{ maxUploadRate: '64MB/s' }, '--max-upload-rate'],
  [{ maxUploadRate: '1.5Mi' }, '--max-upload-rate'],
  [{ maxUploadRate: '100' }, '--max-upload-rate'],
])('a bad value %j stops with a message naming %s', (flags, flag) => {
  expect(() => parseAgentConfig({ ...base, ...flags }, {})).toThrow(ConfigError);
  expect(() => parseAgentConfig({ ...base, ...flags }, {})).toThrow(flag);
});

test("an empty TOTE_* variable counts as unset: the flag's default applies (as Helm env lists produce them)", () => {
  const empty = {
    TOTE_GRPC_PORT: '',
    TOTE_CHUNK_SIZE: '',
    TOTE_MAX_UPLOAD_RATE: '',
    TOTE_JSON_LOG: '',
    TOTE_INSECURE_DEV: '',
    TOTE_BIND_ADDRESS: '',
    TOTE_TLS_CERT: '',
  };
  expect(parseAgentConfig(base, empty)).toMatchObject({
    grpcPort: 9443,
    chunkSize: 3 << 20,
    maxUploadRate: 0,
    jsonLog: true,
    insecureDev: true,
    bindAddress: '0.0.0.0',
    tls: undefined,
  });
  // A required flag left empty is still missing, and the message names it.
  expect(() => parseAgentConfig({ insecureDev: true }, { TOTE_NODE_NAME: '' })).toThrow(
    /^--node-name: invalid value ""; accepted: this node's Kubernetes name/,
  );
});

test('every message names the flag and what it accepts', () => {
  expect(() => parseAgentConfig({ ...base, grpcPort: '70000' }, {})).toThrow(
    '--grpc-port: invalid value "70000"; accepted: a port from 1 to 65535',
  );
  expect(() => parseAgentConfig({ ...base, chunkSize: '1Gi' }, {})).toThrow(
    '--chunk-size: invalid value "1Gi"; accepted: a size from 4096 to 8388608 bytes',
  );
  expect(() => parseAgentConfig(base, { TOTE_MAX_CONCURRENT_EXPORTS: '1001' })).toThrow(
    '--max-concurrent-exports: invalid value "1001"; accepted: an integer from 0 to 1000',
  );
});

test('without certificates the agent refuses to start unless --insecure-dev is explicit', () => {
  expect(() => parseAgentConfig({ nodeName: 'a' }, {})).toThrow(/mTLS is required/);
  expect(() => parseAgentConfig({ nodeName: 'a', tlsCert: '/etc/hostname' }, {})).toThrow(/together/);
  expect(() => parseAgentConfig({ ...base, tlsCert: '/x', tlsKey: '/y', tlsCa: '/z' }, {})).toThrow(
    /cannot be combined/,
  );
  expect(() =>
    parseAgentConfig({ nodeName: 'a', tlsCert: '/nope', tlsKey: '/nope', tlsCa: '/nope' }, {}),
  ).toThrow('--tls-cert: invalid value "/nope"; accepted: a readable file');
  const pem = path.join(mkdtempSync(path.join(tmpdir(), 'tote-agent-config-')), 'x.pem');
  writeFileSync(pem, 'PEM');
  expect(parseAgentConfig({ nodeName: 'a', tlsCert: pem, tlsKey: pem, tlsCa: pem }, {}).tls).toEqual({
    cert: pem,
    key: pem,
    ca: pem,
  });
});

test('parseSize understands SI and binary units and names the flag of a bad value', () => {
  expect(parseSize('chunkSize', '4Ki', 1, 1e9)).toBe(4096);
  expect(parseSize('chunkSize', '2M', 1, 1e9)).toBe(2e6);
  expect(parseSize('chunkSize', '123', 1, 1e9)).toBe(123);
  expect(() => parseSize('maxUploadRate', '2MB', 0, 2 ** 50)).toThrow(ConfigError);
  expect(() => parseSize('maxUploadRate', '2MB', 0, 2 ** 50)).toThrow(
    '--max-upload-rate: invalid value "2MB"',
  );
});

test('--max-upload-rate: a size per second, 0 unlimited, env TOTE_MAX_UPLOAD_RATE', () => {
  expect(parseAgentConfig({ ...base, maxUploadRate: '64Mi' }, {}).maxUploadRate).toBe(64 * 1024 ** 2);
  expect(parseAgentConfig({ ...base, maxUploadRate: '100M/s' }, {}).maxUploadRate).toBe(100e6);
  expect(parseAgentConfig({ ...base, maxUploadRate: '0' }, {}).maxUploadRate).toBe(0);
  expect(parseAgentConfig(base, { TOTE_MAX_UPLOAD_RATE: '4Mi' }).maxUploadRate).toBe(4 << 20);
  expect(() => parseAgentConfig({ ...base, maxUploadRate: '-5Mi' }, {})).toThrow(
    /--max-upload-rate: invalid value "-5Mi"; accepted: bytes per second/,
  );
});

describe('--backup-registry-ca', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tote-agent-ca-'));

  test('given a PEM CA file by flag or TOTE_BACKUP_REGISTRY_CA, should read its certificate at start', () => {
    const ca = createCA(path.join(dir, 'ca'), 'backup-ca');
    const pem = readFileSync(ca.cert, 'utf8').trim();
    expect(parseAgentConfig({ ...base, backupRegistryCa: ca.cert }, {}).backupRegistryCa).toEqual([pem]);
    expect(parseAgentConfig(base, { TOTE_BACKUP_REGISTRY_CA: ca.cert }).backupRegistryCa).toEqual([pem]);
  });

  test('given a missing file or one without a certificate, should stop with a message naming the flag', () => {
    const missing = path.join(dir, 'absent.pem');
    expect(() => parseAgentConfig({ ...base, backupRegistryCa: missing }, {})).toThrow(ConfigError);
    expect(() => parseAgentConfig({ ...base, backupRegistryCa: missing }, {})).toThrow(
      `--backup-registry-ca: invalid value ${JSON.stringify(missing)}; accepted: a readable file`,
    );
    const junk = path.join(dir, 'junk.pem');
    writeFileSync(junk, 'hello\n');
    expect(() => parseAgentConfig({ ...base, backupRegistryCa: junk }, {})).toThrow(
      /^--backup-registry-ca: invalid value .*no PEM certificate in it/,
    );
  });
});
