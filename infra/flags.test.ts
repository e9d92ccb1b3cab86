import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  envNameOf,
  flagReader,
  MIN_RATE,
  parseDuration,
  parseRate,
  parseSize,
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
    [
      'size',
      { chunk: '1Gi' },
      '--chunk: invalid value "1Gi"; accepted: a size from 4096 to 8388608 bytes, e.g. 512Mi, 10Gi',
    ],
    ['size', { chunk: '10 GB' }, '--chunk: invalid value "10 GB"; accepted: a size from'],
    ['size', { chunk: '1Ki' }, '--chunk: invalid value "1Ki"'],
    ['rate', { rate: '-1' }, '--rate: invalid value "-1"; accepted: bytes per second as a size'],
    ['rate', { rate: '64MB/s' }, '--rate: invalid value "64MB/s"'],
    ['rate', { rate: '1.5Mi' }, '--rate: invalid value "1.5Mi"'],
    ['rate', { rate: '1023' }, '--rate: invalid value "1023"; accepted: bytes per second as a size'],
    ['rate', { rate: '2Pi' }, '--rate: invalid value "2Pi"'],
    ['rate', { rate: '2Ti/s' }, '--rate: invalid value "2Ti/s"'],
  ] as const)(
    'given a bad value for %s, should throw the command error naming the flag',
    (kind, flags, message) => {
      const r = reader(flags);
      const read = (): unknown => {
        const key = Object.keys(flags)[0] ?? '';
        if (kind === 'int') return r.int(key, 0, 10);
        if (kind === 'oneOf') return r.oneOf(key, ['debug', 'info']);
        if (kind === 'size') return r.size(key, 4096, 8 << 20);
        if (kind === 'rate') return r.rate(key, 1024 ** 4);
        return r[kind](key);
      };
      expect(read).toThrow(TestFlagError);
      expect(read).toThrow(message);
    },
  );

  test('given sizes and rates, should read them as bytes (per second) with K M G T Ki Mi Gi Ti units', () => {
    expect(reader({ chunk: '256Ki' }).size('chunk', 4096, 8 << 20)).toBe(256 * 1024);
    expect(reader({}, { TOTE_CHUNK: '1M' }).size('chunk', 1)).toBe(1e6);
    expect(reader({ rate: '64Mi' }).rate('rate')).toBe(64 * 1024 ** 2);
    expect(reader({ rate: '64Mi/s' }).rate('rate')).toBe(64 * 1024 ** 2);
    expect(reader({ rate: '0' }).rate('rate')).toBe(0);
    expect(reader({ rate: String(MIN_RATE) }).rate('rate')).toBe(1024);
    // An empty variable is unset: the rate has no default here, so it is missing, not unlimited.
    expect(() => reader({}, { TOTE_RATE: '' }).rate('rate')).toThrow('--rate: invalid value ""');
  });
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

test('parseSize and parseRate read whole sizes in SI and binary units, rates with an optional /s', () => {
  expect(
    ['4Ki', '2M', '123', '10Gi', ' 1Ti ', '1.5Mi', '10 GB', '1P', '-1', '', 'Mi'].map(parseSize),
  ).toEqual([
    4096,
    2e6,
    123,
    10 * 1024 ** 3,
    1024 ** 4,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
  expect(parseSize('99999999999999999999')).toBeUndefined();
  expect(['64Mi', '64Mi/s', '100M/s', '0', '0/s', '64MB/s', '/s', '1Mi/m'].map(parseRate)).toEqual([
    64 * 1024 ** 2,
    64 * 1024 ** 2,
    100e6,
    0,
    0,
    undefined,
    undefined,
    undefined,
  ]);
});
