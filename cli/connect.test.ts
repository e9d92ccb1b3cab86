import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import {
  addKubeOptions,
  addTemporalOptions,
  checkHostPort,
  loadKubeConfig,
  temporalSettings,
  workflowUrl,
  type TemporalFlags,
} from './connect.js';
import { UserError } from './errors.js';

const base: TemporalFlags = {
  temporalAddress: '127.0.0.1:7233',
  temporalNamespace: 'default',
  taskQueue: 'tote',
};
const files: Record<string, string> = {
  '/c.pem': 'CERT',
  '/k.pem': 'KEY',
  '/ca.pem': 'CA',
  '/key.txt': ' sekret\n',
  '/empty': '',
};
const read = (f: string): Buffer => {
  if (!(f in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  return Buffer.from(files[f] ?? '');
};
const userError = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('expected a UserError');
};

describe('temporalSettings', () => {
  test('given the defaults, should connect in plaintext to the local dev server', () => {
    expect(temporalSettings(base, {}, read)).toEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'tote',
      connection: { address: '127.0.0.1:7233' },
    });
  });

  test('given a client certificate pair and a CA, should read them and turn TLS on', () => {
    const s = temporalSettings(
      {
        ...base,
        temporalTlsCert: '/c.pem',
        temporalTlsKey: '/k.pem',
        temporalTlsCa: '/ca.pem',
        temporalTlsServerName: 'tmprl',
      },
      {},
      read,
    );
    expect(s.connection.tls).toEqual({
      clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') },
      serverRootCACertificate: Buffer.from('CA'),
      serverNameOverride: 'tmprl',
    });
  });

  test('given an API key file, should trim the key (the SDK then turns TLS on by itself)', () => {
    const s = temporalSettings({ ...base, temporalApiKeyFile: '/key.txt' }, {}, read);
    expect(s.connection).toEqual({ address: '127.0.0.1:7233', apiKey: 'sekret' });
  });

  test('given TOTE_TEMPORAL_API_KEY in the environment, should use it', () => {
    expect(temporalSettings(base, { TOTE_TEMPORAL_API_KEY: 'k' }, read).connection.apiKey).toBe('k');
  });

  test.each([
    [{ temporalAddress: 'nope' }, '--temporal-address: invalid value "nope"'],
    [{ temporalAddress: 'h:99999' }, '--temporal-address'],
    [{ temporalNamespace: 'a b' }, '--temporal-namespace'],
    [{ taskQueue: ' ' }, '--task-queue'],
    [{ temporalTlsCert: '/c.pem' }, 'must be given together'],
    [
      { temporalTlsCert: '/missing', temporalTlsKey: '/k.pem' },
      '--temporal-tls-cert: cannot read /missing (ENOENT)',
    ],
    [{ temporalApiKeyFile: '/empty' }, '--temporal-api-key-file: /empty is empty'],
    [{ temporalUiUrl: 'ftp://x' }, '--temporal-ui-url'],
  ])('given %o, should name the flag: %s', (over, msg) => {
    expect(userError(() => temporalSettings({ ...base, ...over } as TemporalFlags, {}, read))).toContain(msg);
  });

  test('checkHostPort accepts IPv6 in brackets', () => {
    expect(checkHostPort('--x', '[::1]:7233')).toBe('[::1]:7233');
  });
});

describe('flags', () => {
  test('given environment variables, should fall back to them; flags win', () => {
    const saved = { ...process.env };
    process.env.TOTE_TEMPORAL_ADDRESS = 'env.example:7233';
    process.env.TOTE_TASK_QUEUE = 'from-env';
    try {
      const cmd = addKubeOptions(addTemporalOptions(new Command('x').exitOverride()));
      cmd.parse(['--task-queue', 'flag-q'], { from: 'user' });
      expect(cmd.opts()).toMatchObject({
        temporalAddress: 'env.example:7233',
        taskQueue: 'flag-q',
        temporalNamespace: 'default',
      });
    } finally {
      process.env = saved;
    }
  });
});

describe('workflowUrl', () => {
  test('given a UI URL, should encode the id (it has slashes) and link the run history', () => {
    expect(
      workflowUrl({ uiUrl: 'http://ui:8233', namespace: 'default' }, 'salvage/sha256:ab/node-2', 'r1'),
    ).toBe('http://ui:8233/namespaces/default/workflows/salvage%2Fsha256%3Aab%2Fnode-2/r1/history');
  });
  test('given no UI URL, should give nothing', () => {
    expect(workflowUrl({ namespace: 'default' }, 'x')).toBeUndefined();
  });
});

describe('loadKubeConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tote-kc-'));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: one, context: {cluster: c, user: u}}, {name: two, context: {cluster: c, user: u}}]
current-context: one
`,
  );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('given a file and a context, should select it', () => {
    expect(loadKubeConfig({ kubeconfig: file, context: 'two' }).getCurrentContext()).toBe('two');
  });
  test('given an unknown context, should list the known ones', () => {
    expect(userError(() => loadKubeConfig({ kubeconfig: file, context: 'three' }))).toBe(
      '--context: no context "three" in the kubeconfig (has: one, two)',
    );
  });
  test('given a missing file, should say which', () => {
    expect(userError(() => loadKubeConfig({ kubeconfig: path.join(dir, 'nope') }))).toContain(
      '--kubeconfig: cannot load',
    );
  });
});
