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

  test('given neither agent TLS files nor plaintext, should refuse to start', () => {
    expect(() => parseWorkerConfig({}, {})).toThrow('--tls-cert, --tls-key and --tls-ca are required');
  });
});

test('envName maps flags to TOTE_ variables', () => {
  expect(envName('salvagerecordTtl')).toBe('TOTE_SALVAGERECORD_TTL');
  expect(envName('temporalApiKeyFile')).toBe('TOTE_TEMPORAL_API_KEY_FILE');
});
