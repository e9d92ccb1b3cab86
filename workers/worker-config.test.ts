import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCA } from '../test/harness/pki.js';
import { envName, parseWorkerConfig, WorkerConfigError } from './worker-config.js';

const dev = { insecurePlaintext: true } as const;

describe('parseWorkerConfig', () => {
  test('given nothing but plaintext agents, should apply the defaults of the original tote', () => {
    const c = parseWorkerConfig(dev, {});
    expect(c.activities).toMatchObject({
      mode: 'auto',
      maxImageSizeBytes: 2147483648,
      salvageRecordTtlSeconds: 168 * 3600,
      sessionTtlSeconds: 300,
      agents: { kind: 'pods', port: 9443 },
      registryResolve: false,
    });
    expect(c.activities.backup).toBeUndefined();
    expect(c.activities.webhook).toBeUndefined();
    expect(c.temporal).toEqual({
      connection: { address: '127.0.0.1:7233' },
      namespace: 'default',
      taskQueue: 'tote',
    });
    expect(c.metrics).toEqual({ host: '', port: 9090 });
    expect(c.agents).toMatchObject({ insecure: true, namespace: 'tote-system' });
  });

  test('given environment variables, should use them when the flag is absent, and flags first', () => {
    const c = parseWorkerConfig(
      { ...dev, mode: 'approve' },
      {
        TOTE_MODE: 'detect-only',
        TOTE_MAX_IMAGE_SIZE: '10',
        TOTE_WEBHOOK_URL: 'http://h/x',
        TOTE_WEBHOOK_SECRET: 'k',
        TOTE_WEBHOOK_EVENTS: 'salvaged, pushed',
      },
    );
    expect(c.activities.mode).toBe('approve');
    expect(c.activities.maxImageSizeBytes).toBe(10);
    expect(c.activities.webhook).toEqual({
      url: 'http://h/x',
      events: ['salvaged', 'pushed'],
      secret: 'k',
      timeoutMs: 10_000,
    });
  });

  test('given a backup secret name, should look for it in the agent namespace', () => {
    const c = parseWorkerConfig(
      { ...dev, backupRegistry: 'backup:5000/salvaged', backupRegistrySecret: 'push' },
      {},
    );
    expect(c.activities.backup).toEqual({
      registry: 'backup:5000/salvaged',
      insecure: false,
      secret: { namespace: 'tote-system', name: 'push' },
    });
  });

  test.each([
    [{ mode: 'yolo' }, '--mode: invalid value "yolo"; accepted: auto, approve, detect-only'],
    [{ salvagerecordTtl: '7d' }, '--salvagerecord-ttl'],
    [{ maxImageSize: '-1' }, '--max-image-size'],
    [{ webhookUrl: 'ftp://x' }, '--webhook-url'],
    [{ webhookUrl: 'http://x', webhookEvents: 'deployed' }, '--webhook-events: invalid value "deployed"'],
    [{ agentEndpointTemplate: 'agents:9443' }, '--agent-endpoint-template'],
    [{ metricsAddr: '9090' }, '--metrics-addr'],
    [{ temporalAddress: 'nohost' }, '--temporal-address'],
    [{ jsonLog: 'maybe' }, '--json-log'],
  ])('given %j, should stop with a message naming the flag', (flags, message) => {
    expect(() => parseWorkerConfig({ ...dev, ...flags }, {})).toThrow(WorkerConfigError);
    expect(() => parseWorkerConfig({ ...dev, ...flags }, {})).toThrow(message);
  });

  test('given no registry resolution options, should time requests out after 5 s and trust the public roots only', () => {
    const c = parseWorkerConfig(dev, {});
    expect(c.registryResolveTimeoutMs).toBe(5000);
    expect(c.registryResolveCa).toBeUndefined();
  });

  test('given a registry resolution timeout by flag or environment, should use it, the flag first', () => {
    expect(parseWorkerConfig({ ...dev, registryResolveTimeout: '1m30s' }, {}).registryResolveTimeoutMs).toBe(
      90_000,
    );
    expect(
      parseWorkerConfig({ ...dev }, { TOTE_REGISTRY_RESOLVE_TIMEOUT: '750ms' }).registryResolveTimeoutMs,
    ).toBe(750);
    expect(
      parseWorkerConfig({ ...dev, registryResolveTimeout: '2s' }, { TOTE_REGISTRY_RESOLVE_TIMEOUT: '9s' })
        .registryResolveTimeoutMs,
    ).toBe(2000);
  });

  test.each(['soon', '5', '0s', '-5s'])(
    'given the registry resolution timeout %j, should stop with a message naming the flag',
    (value) => {
      const parse = (): unknown => parseWorkerConfig({ ...dev, registryResolveTimeout: value }, {});
      expect(parse).toThrow(WorkerConfigError);
      expect(parse).toThrow(`--registry-resolve-timeout: invalid value ${JSON.stringify(value)}`);
    },
  );

  describe('--registry-resolve-ca', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tote-worker-ca-'));
    const file = (name: string, text: string): string => {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      return p;
    };

    test('given a PEM bundle of two CAs, should read both certificates at start', () => {
      const [a, b] = [createCA(path.join(dir, 'a'), 'ca-a'), createCA(path.join(dir, 'b'), 'ca-b')];
      const pems = [readFileSync(a.cert, 'utf8'), readFileSync(b.cert, 'utf8')];
      const bundle = file('bundle.pem', `# two roots\n${pems.join('\n')}`);
      const c = parseWorkerConfig({ ...dev, registryResolveCa: bundle }, {});
      expect(c.registryResolveCa).toEqual(pems.map((p) => p.trim()));
      expect(parseWorkerConfig(dev, { TOTE_REGISTRY_RESOLVE_CA: bundle }).registryResolveCa).toHaveLength(2);
    });

    test.each([
      ['a missing file', () => path.join(dir, 'absent.pem'), 'a readable file'],
      ['a file without a certificate', () => file('empty.pem', 'not a certificate\n'), 'no PEM certificate'],
      [
        'a broken certificate',
        () => file('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
        'certificate 1 does not parse',
      ],
    ])('given %s, should stop with a message naming the flag', (_, make, reason) => {
      const ca = make();
      const parse = (): unknown => parseWorkerConfig({ ...dev, registryResolveCa: ca }, {});
      expect(parse).toThrow(WorkerConfigError);
      expect(parse).toThrow(`--registry-resolve-ca: invalid value ${JSON.stringify(ca)}`);
      expect(parse).toThrow(reason);
    });
  });

  test('given neither agent TLS files nor plaintext, should refuse to start', () => {
    expect(() => parseWorkerConfig({}, {})).toThrow('--tls-cert, --tls-key and --tls-ca are required');
  });
});

test('envName maps flags to TOTE_ variables', () => {
  expect(envName('salvagerecordTtl')).toBe('TOTE_SALVAGERECORD_TTL');
  expect(envName('temporalApiKeyFile')).toBe('TOTE_TEMPORAL_API_KEY_FILE');
});
