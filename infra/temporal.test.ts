import { DEFAULT_TEMPORAL_ADDRESS } from '../common/names.js';
import { temporalConnectionOptions } from './temporal.js';

const files: Record<string, string> = {
  '/c.pem': 'CERT',
  '/k.pem': 'KEY',
  '/ca.pem': 'CA',
  '/key.txt': ' abc \n',
  '/empty': '',
};
const readFile = (f: string): Buffer => {
  if (!(f in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  return Buffer.from(files[f] ?? '');
};

describe('temporalConnectionOptions', () => {
  test('given only an address, should connect in plaintext', () => {
    expect(temporalConnectionOptions({ address: '127.0.0.1:7233' }, readFile)).toEqual({
      address: '127.0.0.1:7233',
    });
  });

  test('given mTLS files and a CA, should read them into the TLS options', () => {
    const o = temporalConnectionOptions(
      {
        address: 'ns.acct.tmprl.cloud:7233',
        tlsCert: '/c.pem',
        tlsKey: '/k.pem',
        tlsCa: '/ca.pem',
        tlsServerName: 'x',
      },
      readFile,
    );
    expect(o.tls?.clientCertPair?.crt.toString()).toBe('CERT');
    expect(o.tls?.clientCertPair?.key.toString()).toBe('KEY');
    expect(o.tls?.serverRootCACertificate?.toString()).toBe('CA');
    expect(o.tls?.serverNameOverride).toBe('x');
    expect(o.apiKey).toBeUndefined();
  });

  test('given an API key file, should use its trimmed content and leave TLS to the SDK default', () => {
    expect(temporalConnectionOptions({ address: 'a:7233', apiKeyFile: '/key.txt' }, readFile)).toEqual({
      address: 'a:7233',
      apiKey: 'abc',
    });
    expect(temporalConnectionOptions({ address: 'a:7233', apiKey: 'env-key' }, readFile).apiKey).toBe(
      'env-key',
    );
  });

  test.each([
    [{ address: 'nohost' }, '--temporal-address'],
    [{ address: 'a:1', tlsCert: '/c.pem' }, '--temporal-tls-cert and --temporal-tls-key'],
    [{ address: 'a:1', tlsCa: '/missing' }, '--temporal-tls-ca: cannot read /missing (ENOENT)'],
    [{ address: 'a:1', apiKeyFile: '/empty' }, '--temporal-api-key-file: /empty is empty'],
  ])('given %j, should name the flag', (flags, message) => {
    expect(() => temporalConnectionOptions(flags, readFile)).toThrow(message);
  });

  test('the default address (common/names.ts) is a valid host:port and the example of the address error', () => {
    expect(DEFAULT_TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(temporalConnectionOptions({ address: DEFAULT_TEMPORAL_ADDRESS }).address).toBe(
      DEFAULT_TEMPORAL_ADDRESS,
    );
    expect(() => temporalConnectionOptions({ address: 'nohost' })).toThrow(
      `expected host:port, e.g. ${DEFAULT_TEMPORAL_ADDRESS}`,
    );
  });
});
