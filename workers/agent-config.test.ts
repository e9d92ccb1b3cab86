import { ConfigError, parseAgentConfig, parseSize } from './agent-config.js';

const base = { nodeName: 'node-a', insecureDev: true };

test('defaults: k8s.io namespace, the chart ports, 1 MiB chunks, 10 GiB images', () => {
  expect(parseAgentConfig(base, {})).toMatchObject({
    containerdSocket: '/run/containerd/containerd.sock',
    containerdNamespace: 'k8s.io',
    grpcPort: 9443,
    healthPort: 8081,
    metrics: { host: '', port: 9090 },
    chunkSize: 1 << 20,
    maxImageSize: 10 * 1024 ** 3,
    maxConcurrentExports: 4,
    maxUploadRate: 0,
    insecureDev: true,
    tls: undefined,
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

test('without certificates the agent refuses to start unless --insecure-dev is explicit', () => {
  expect(() => parseAgentConfig({ nodeName: 'a' }, {})).toThrow(/mTLS is required/);
  expect(() => parseAgentConfig({ nodeName: 'a', tlsCert: '/etc/hostname' }, {})).toThrow(/together/);
  expect(() => parseAgentConfig({ ...base, tlsCert: '/x', tlsKey: '/y', tlsCa: '/z' }, {})).toThrow(
    /cannot be combined/,
  );
  expect(() =>
    parseAgentConfig({ nodeName: 'a', tlsCert: '/nope', tlsKey: '/nope', tlsCa: '/nope' }, {}),
  ).toThrow('--tls-cert');
});

test('parseSize understands SI and binary units', () => {
  expect(parseSize('chunkSize', '4Ki', 1, 1e9)).toBe(4096);
  expect(parseSize('chunkSize', '2M', 1, 1e9)).toBe(2e6);
  expect(parseSize('chunkSize', '123', 1, 1e9)).toBe(123);
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
