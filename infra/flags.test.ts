import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  envNameOf,
  flagReader,
  parseDuration,
  temporalSection,
  type FlagSource,
  type TemporalFlag,
} from './flags.js';

class TestFlagError extends Error {
  override name = 'TestFlagError';
}

const SPECS: Record<string, { flag: string; def: string | undefined; env?: string }> = {
  port: { flag: '--port', def: '8081' },
  count: { flag: '--count', def: undefined },
  wait: { flag: '--wait', def: '5m' },
  on: { flag: '--on', def: 'false' },
  file: { flag: '--file', def: undefined },
  addr: { flag: '--addr', def: ':9090' },
  level: { flag: '--level', def: 'info' },
  name: { flag: '--name', def: undefined, env: 'OTHER_NAME' },
  temporalAddress: { flag: '--temporal-address', def: '127.0.0.1:7233' },
  temporalNamespace: { flag: '--temporal-namespace', def: 'default' },
  taskQueue: { flag: '--task-queue', def: 'tote' },
  temporalTls: { flag: '--temporal-tls', def: 'false' },
  temporalTlsCert: { flag: '--temporal-tls-cert', def: undefined },
  temporalTlsKey: { flag: '--temporal-tls-key', def: undefined },
  temporalTlsCa: { flag: '--temporal-tls-ca', def: undefined },
  temporalTlsServerName: { flag: '--temporal-tls-server-name', def: undefined },
  temporalApiKeyFile: { flag: '--temporal-api-key-file', def: undefined },
};

const reader = (
  flags: FlagSource<string>['flags'],
  env: Record<string, string | undefined> = {},
  inherited?: FlagSource<string>['inherited'],
): ReturnType<typeof flagReader<string>> =>
  flagReader<string>({
    flags,
    env,
    inherited,
    spec: (k) => SPECS[k] ?? { flag: `--${k}`, def: undefined },
    error: (message) => new TestFlagError(message),
  });

const dir = mkdtempSync(path.join(tmpdir(), 'tote-flags-'));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('flagReader', () => {
  test('given a flag, a variable, an inherited value and a default, should take them in that order', () => {
    const env = { TOTE_PORT: '2', TOTE_COUNT: '' };
    expect(reader({ port: '1' }, env, { port: '3' }).get('port')).toBe('1');
    expect(reader({}, env, { port: '3' }).get('port')).toBe('2');
    expect(reader({}, {}, { port: '3' }).get('port')).toBe('3');
    expect(reader({}, {}).get('port')).toBe('8081');
    // An empty variable is unset, as Helm's env lists produce them.
    expect(reader({}, env).get('count')).toBeUndefined();
    expect(reader({}, { OTHER_NAME: 'n', TOTE_NAME: 'x' }).get('name')).toBe('n');
    expect(reader({ on: true }).get('on')).toBe('true');
  });

  test('given valid values, should convert them', () => {
    const r = reader({ count: '7', on: 'yes', file: file('f', 'x'), addr: '[::1]:19090' });
    expect(r.int('count', 0, 10)).toBe(7);
    expect(r.port('port')).toBe(8081);
    expect(r.duration('wait')).toBe(300_000);
    expect(r.bool('on')).toBe(true);
    expect(reader({}).bool('on')).toBe(false);
    expect(reader({}).bool('count')).toBe(false);
    expect(r.readable('file')).toBe(path.join(dir, 'f'));
    expect(reader({}).readable('file')).toBeUndefined();
    expect(r.hostPort('addr')).toEqual({ host: '::1', port: 19090 });
    expect(reader({}).hostPort('addr')).toEqual({ host: '', port: 9090 });
    expect(r.oneOf('level', ['debug', 'info'])).toBe('info');
    expect(reader({ name: ' tote ' }).nonEmpty('name')).toBe('tote');
  });

  test.each([
    ['int', { count: '11' }, '--count: invalid value "11"; accepted: an integer from 0 to 10'],
    ['int', { count: '-1' }, '--count: invalid value "-1"'],
    ['port', { port: '70000' }, '--port: invalid value "70000"; accepted: a port from 1 to 65535'],
    ['duration', { wait: '7d' }, '--wait: invalid value "7d"; accepted: a positive Go duration'],
    ['duration', { wait: '0s' }, '--wait: invalid value "0s"'],
    ['bool', { on: 'maybe' }, '--on: invalid value "maybe"; accepted: true or false'],
    [
      'readable',
      { file: '/nonexistent/f' },
      '--file: invalid value "/nonexistent/f"; accepted: a readable file',
    ],
    ['hostPort', { addr: '9090' }, '--addr: invalid value "9090"; accepted: [host]:port'],
    ['hostPort', { addr: 'h:0' }, '--addr: invalid value "h:0"'],
    ['oneOf', { level: 'loud' }, '--level: invalid value "loud"; accepted: debug, info'],
    ['nonEmpty', { name: ' ' }, '--name: invalid value " "; accepted: a non-empty string'],
  ] as const)(
    'given a bad value for %s, should throw the command error naming the flag',
    (kind, flags, message) => {
      const r = reader(flags);
      const read = (): unknown => {
        const key = Object.keys(flags)[0] ?? '';
        if (kind === 'int') return r.int(key, 0, 10);
        if (kind === 'oneOf') return r.oneOf(key, ['debug', 'info']);
        return r[kind](key);
      };
      expect(read).toThrow(TestFlagError);
      expect(read).toThrow(message);
    },
  );
});

describe('temporalSection', () => {
  const section = (flags: FlagSource<string>['flags'], env = {}): ReturnType<typeof temporalSection> =>
    temporalSection(reader(flags, env) as ReturnType<typeof flagReader<TemporalFlag>>, env);

  test('given no flags, should dial the local dev server in plaintext', () => {
    expect(section({})).toEqual({
      connection: { address: '127.0.0.1:7233' },
      namespace: 'default',
      taskQueue: 'tote',
    });
  });

  test('given TLS files and the API key variable, should carry them', () => {
    const c = section(
      {
        temporalTlsCert: file('c.crt', 'CERT'),
        temporalTlsKey: file('c.key', 'KEY'),
        temporalTlsServerName: 't',
      },
      { TOTE_TEMPORAL_API_KEY: 'k' },
    ).connection;
    expect(c.apiKey).toBe('k');
    expect(c.tls?.serverNameOverride).toBe('t');
    expect(c.tls?.clientCertPair?.crt.toString()).toBe('CERT');
  });

  test.each([
    [{ temporalAddress: 'nohost' }, '--temporal-address: invalid value "nohost"'],
    [
      { temporalTlsCa: '/nonexistent/ca' },
      '--temporal-tls-ca: invalid value "/nonexistent/ca"; accepted: a readable file',
    ],
    [{ temporalTlsKey: '/nonexistent/k' }, '--temporal-tls-key: invalid value "/nonexistent/k"'],
    [{ temporalTls: 'sometimes' }, '--temporal-tls: invalid value "sometimes"'],
    [{ taskQueue: '' }, '--task-queue: invalid value ""'],
  ])('given %j, should throw the command error naming the flag', (flags, message) => {
    expect(() => section(flags)).toThrow(TestFlagError);
    expect(() => section(flags)).toThrow(message);
  });

  test('given a certificate without its key, should throw the command error from infra/temporal.ts', () => {
    expect(() => section({ temporalTlsCert: file('alone.crt', 'C') })).toThrow(TestFlagError);
    expect(() => section({ temporalTlsCert: file('alone.crt', 'C') })).toThrow(
      '--temporal-tls-cert and --temporal-tls-key must be given together',
    );
  });
});

test('parseDuration reads Go durations and nothing else', () => {
  expect(['168h', '1h30m', '500ms', '1.5s', '', '10', '5d', '1h ', 'm'].map(parseDuration)).toEqual([
    604_800_000,
    5_400_000,
    500,
    1500,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

test('envNameOf maps a flag to its TOTE_ variable', () => {
  expect(envNameOf('--max-image-size')).toBe('TOTE_MAX_IMAGE_SIZE');
  expect(envNameOf('--temporal-api-key-file')).toBe('TOTE_TEMPORAL_API_KEY_FILE');
});
