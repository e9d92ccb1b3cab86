import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_TEMPORAL_ADDRESS } from '../common/names.js';
import { ConfigError, parseControllerConfig } from './controller-config.js';
import { DOCTOR_FLAGS } from './doctor-config.js';
import { WORKER_FLAGS } from './worker-config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tote-ctl-cfg-'));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('given no flags, the defaults match docs/cli-reference.md and the chart', () => {
  const c = parseControllerConfig({}, {});
  expect(c).toMatchObject({
    enabled: true,
    mode: 'auto',
    registryResolve: false,
    metrics: { host: '', port: 9090 },
    healthPort: 8081,
    temporal: { connection: { address: '127.0.0.1:7233' }, namespace: 'default', taskQueue: 'tote' },
    jsonLog: true,
    logLevel: 'info',
  });
  expect(c.temporal.connection.tls).toBeUndefined();
  expect(c.kubeconfig).toBeUndefined();
});

test('given flags and env, flags win over env and env over defaults; booleans accept the chart forms', () => {
  const c = parseControllerConfig(
    { enabled: 'false', mode: 'approve', registryResolve: true, metricsAddr: '127.0.0.1:19090' },
    {
      TOTE_MODE: 'detect-only',
      TOTE_HEALTH_PORT: '18081',
      TOTE_TASK_QUEUE: 'tote-test',
      TOTE_JSON_LOG: 'false',
    },
  );
  expect(c).toMatchObject({
    enabled: false,
    mode: 'approve',
    registryResolve: true,
    metrics: { host: '127.0.0.1', port: 19090 },
    healthPort: 18081,
    jsonLog: false,
  });
  expect(c.temporal.taskQueue).toBe('tote-test');
});

test.each([
  [{ mode: 'yolo' }, '--mode: invalid value "yolo"; accepted: auto, approve, detect-only'],
  [{ enabled: 'maybe' }, '--enabled: invalid value "maybe"; accepted: true or false'],
  [{ metricsAddr: '9090' }, '--metrics-addr: invalid value "9090"'],
  [{ healthPort: '70000' }, '--health-port: invalid value "70000"; accepted: a port from 1 to 65535'],
  [{ temporalAddress: 'temporal' }, '--temporal-address: invalid value "temporal"'],
  [{ taskQueue: ' ' }, '--task-queue: invalid value " "'],
  [
    { kubeconfig: '/nonexistent/kubeconfig' },
    '--kubeconfig: invalid value "/nonexistent/kubeconfig"; accepted: a readable file',
  ],
  [
    { temporalTlsCert: file('alone.crt', 'C') },
    '--temporal-tls-cert and --temporal-tls-key must be given together',
  ],
  [
    { temporalTlsCa: '/nonexistent/ca.crt' },
    '--temporal-tls-ca: invalid value "/nonexistent/ca.crt"; accepted: a readable file',
  ],
  [{ logLevel: 'loud' }, '--log-level: invalid value "loud"'],
])('given %j, the error names the flag', (flags, message) => {
  expect(() => parseControllerConfig(flags, {})).toThrow(ConfigError);
  expect(() => parseControllerConfig(flags, {})).toThrow(message);
});

test('given TLS files and an API key file, the Temporal connection carries them', () => {
  const c = parseControllerConfig(
    {
      temporalTlsCert: file('c.crt', 'CERT'),
      temporalTlsKey: file('c.key', 'KEY'),
      temporalTlsCa: file('ca.crt', 'CA'),
      temporalTlsServerName: 'tmprl.example',
      temporalApiKeyFile: file('key', 'secret-key\n'),
    },
    {},
  );
  const tls = c.temporal.connection.tls as {
    serverNameOverride: string;
    clientCertPair: { crt: Uint8Array };
  };
  expect(tls.serverNameOverride).toBe('tmprl.example');
  expect(Buffer.from(tls.clientCertPair.crt).toString()).toBe('CERT');
  expect(c.temporal.connection.apiKey).toBe('secret-key');
});

test('given --temporal-tls alone or TOTE_TEMPORAL_API_KEY, TLS is on and the key is used', () => {
  expect(parseControllerConfig({ temporalTls: true }, {}).temporal.connection.tls).toEqual({});
  expect(parseControllerConfig({}, { TOTE_TEMPORAL_API_KEY: 'k' }).temporal.connection.apiKey).toBe('k');
  expect(() => parseControllerConfig({ temporalApiKeyFile: file('empty', '') }, {})).toThrow(
    '--temporal-api-key-file',
  );
});

test('the worker, the controller and doctor default to the one Temporal address of common/names.ts', () => {
  expect(parseControllerConfig({}, {}).temporal.connection.address).toBe(DEFAULT_TEMPORAL_ADDRESS);
  expect(WORKER_FLAGS.temporalAddress[1]).toBe(DEFAULT_TEMPORAL_ADDRESS);
  expect(DOCTOR_FLAGS.temporalAddress[1]).toBe(DEFAULT_TEMPORAL_ADDRESS);
});
