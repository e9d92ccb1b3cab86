import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { doctorEnvName, DoctorConfigError, inheritWorkerFlags, parseDoctorConfig } from './doctor-config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'doctor-config-'));
const file = (name: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, 'pem');
  return p;
};
const [cert, key, ca] = [file('tls.crt'), file('tls.key'), file('ca.crt')];
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The worker's command line as the chart renders it (mTLS, embedded Temporal). */
const CHART_WORKER = [
  'node',
  'bin/tote.js',
  'worker',
  '--mode=auto',
  '--agent-namespace=tote',
  '--agent-selector=app.kubernetes.io/instance=tote,app.kubernetes.io/component=agent',
  '--agent-port=9443',
  '--tls-server-name=tote-agent',
  `--tls-cert=${cert}`,
  `--tls-key=${key}`,
  `--tls-ca=${ca}`,
  '--temporal-address=tote-temporal.tote.svc:7233',
  '--temporal-namespace=default',
  '--task-queue=tote',
  '--temporal-tls',
  '--json-log=true',
];

describe('inheritWorkerFlags', () => {
  test("given the chart's worker command line, should take the connection flags and ignore the rest", () => {
    expect(inheritWorkerFlags(CHART_WORKER)).toEqual({
      agentNamespace: 'tote',
      agentSelector: 'app.kubernetes.io/instance=tote,app.kubernetes.io/component=agent',
      agentPort: '9443',
      tlsServerName: 'tote-agent',
      tlsCert: cert,
      tlsKey: key,
      tlsCa: ca,
      temporalAddress: 'tote-temporal.tote.svc:7233',
      temporalNamespace: 'default',
      taskQueue: 'tote',
      temporalTls: true,
    });
  });

  test('given values after a space and a bare boolean, should read both forms', () => {
    const argv = [
      '/usr/local/bin/tote',
      'worker',
      '--agent-port',
      '9000',
      '--insecure-plaintext',
      '--mode',
      'auto',
    ];
    expect(inheritWorkerFlags(argv)).toEqual({ agentPort: '9000', insecurePlaintext: true });
  });

  test('given anything but a tote worker, should inherit nothing', () => {
    expect(inheritWorkerFlags(['/sbin/init'])).toBeUndefined();
    expect(inheritWorkerFlags(['node', 'bin/tote.js', 'agent', '--grpc-port=9443'])).toBeUndefined();
    expect(inheritWorkerFlags(['python', 'worker', '--tls-cert=x'])).toBeUndefined();
  });
});

describe('parseDoctorConfig', () => {
  test('given nothing, should use the defaults and dial no agents', () => {
    const c = parseDoctorConfig({}, {});
    expect(c).toEqual({
      temporal: { connection: { address: '127.0.0.1:7233' }, namespace: 'default', taskQueue: 'tote' },
      agents: {
        namespace: 'tote-system',
        selector: 'app.kubernetes.io/component=agent',
        port: 9443,
        dial: undefined,
      },
      timeoutMs: 10_000,
    });
  });

  test('given inherited worker flags, should use them below environment variables and flags', () => {
    const inherited = inheritWorkerFlags(CHART_WORKER);
    const c = parseDoctorConfig(
      { agentPort: '7000' },
      { TOTE_AGENT_NAMESPACE: 'ops', TOTE_AGENT_PORT: '8000', TOTE_TEMPORAL_NAMESPACE: '' },
      inherited,
    );
    expect(c.agents).toMatchObject({
      namespace: 'ops',
      port: 7000,
      dial: { tls: { cert, key, ca }, serverName: 'tote-agent' },
    });
    expect(c.temporal).toEqual({
      connection: { address: 'tote-temporal.tote.svc:7233', tls: {} },
      namespace: 'default',
      taskQueue: 'tote',
    });
  });

  test('given the sandbox flags, should keep the templates, URLs and timeout', () => {
    const c = parseDoctorConfig(
      {
        agentEndpointTemplate: '{nodeIP}:9443',
        agentHealthTemplate: 'http://{nodeIP}:8081/readyz',
        controllerUrl: 'http://127.0.0.1:1234/readyz',
        workerUrl: 'http://127.0.0.1:1235/readyz',
        insecurePlaintext: true,
        timeout: '3s',
      },
      {},
    );
    expect(c).toMatchObject({
      agents: {
        endpointTemplate: '{nodeIP}:9443',
        healthTemplate: 'http://{nodeIP}:8081/readyz',
        dial: { insecure: true },
      },
      controllerUrl: 'http://127.0.0.1:1234/readyz',
      workerUrl: 'http://127.0.0.1:1235/readyz',
      timeoutMs: 3000,
    });
  });

  test.each([
    [{ timeout: 'soon' }, '--timeout: invalid value "soon"'],
    [{ agentPort: '70000' }, '--agent-port: invalid value "70000"'],
    [{ agentEndpointTemplate: '10.0.0.1:9443' }, '--agent-endpoint-template'],
    [{ agentHealthTemplate: '{nodeIP}:8081' }, 'an http(s) URL containing {node} or {nodeIP}'],
    [{ controllerUrl: 'localhost:8081' }, '--controller-url'],
    [{ tlsCert: cert }, '--tls-cert, --tls-key and --tls-ca go together'],
    [
      { tlsCa: '/nonexistent/ca.crt' },
      '--tls-ca: invalid value "/nonexistent/ca.crt"; accepted: a readable file',
    ],
    [{ temporalTlsCert: cert }, '--temporal-tls-cert and --temporal-tls-key must be given together'],
    [{ insecurePlaintext: 'maybe' }, '--insecure-plaintext'],
  ])('given %j, should refuse it naming the flag', (flags, message) => {
    expect(() => parseDoctorConfig(flags, {})).toThrow(DoctorConfigError);
    expect(() => parseDoctorConfig(flags, {})).toThrow(message);
  });

  test('environment names follow the worker convention', () => {
    expect(doctorEnvName('agentHealthTemplate')).toBe('TOTE_AGENT_HEALTH_TEMPLATE');
    expect(doctorEnvName('temporalApiKeyFile')).toBe('TOTE_TEMPORAL_API_KEY_FILE');
  });
});
