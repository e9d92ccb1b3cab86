import { execFileSync } from 'node:child_process';
import { Run } from './run.js';
import { createCA, issueCert } from './pki.js';

test('issues a leaf certificate that verifies against its CA', () => {
  const run = Run.create('pki');
  const ca = createCA(run.path('pki'), 'test-ca');
  const leaf = issueCert(ca, {
    name: 'srv',
    commonName: 'localhost',
    sans: ['localhost', '127.0.0.1'],
    usage: 'server',
  });
  const out = execFileSync('openssl', ['verify', '-CAfile', ca.cert, leaf.cert]).toString();
  expect(out).toContain('OK');
  run.remove();
});
