import { Command } from 'commander';
import { fail, pass, toReport, warn } from '../infra/doctor-report.js';
import { registerDoctor, renderReport } from './doctor.js';
import { UserError } from './errors.js';

const report = toReport([
  pass('kube-access', 'https://kube:6443 v1.34.4'),
  warn(
    'namespaces',
    'no namespace has opted in',
    'kubectl annotate namespace <NAMESPACE> tote.dev/allow=true',
  ),
  fail('agent/node-2', '10.0.0.2:9443: UNAVAILABLE', 'check the agent on node-2'),
]);

test('given a report and no terminal, should print an aligned table, the hints and the verdict without colours', () => {
  expect(renderReport(report, { color: false })).toBe(
    [
      'CHECK         STATUS  DETAIL',
      'kube-access   ok      https://kube:6443 v1.34.4',
      'namespaces    warn    no namespace has opted in',
      '                      → kubectl annotate namespace <NAMESPACE> tote.dev/allow=true',
      'agent/node-2  FAIL    10.0.0.2:9443: UNAVAILABLE',
      '                      → check the agent on node-2',
      '',
      'NOT healthy (1 passed, 1 warning, 1 failed)',
      '',
    ].join('\n'),
  );
});

test('given a terminal, should colour the statuses and the verdict', () => {
  const out = renderReport(toReport([pass('crd', 'established')]), { color: true });
  expect(out).toContain('\x1b[32mok    \x1b[0m');
  expect(out).toContain('\x1b[32mhealthy (1 passed, 0 warnings, 0 failed)\x1b[0m');
});

describe('exit codes', () => {
  const program = (): Command => {
    const p = new Command('tote').exitOverride().configureOutput({ writeErr: () => undefined });
    registerDoctor(p);
    return p;
  };

  test('given a bad value or an unknown flag, doctor should exit 2 (1 means unhealthy)', async () => {
    const bad = program().parseAsync(['node', 'tote', 'doctor', '--timeout', 'soon']);
    await expect(bad).rejects.toThrow(UserError);
    await expect(bad).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('--timeout') });
    const unknown = program().parseAsync(['node', 'tote', 'doctor', '--no-such-flag']);
    await expect(unknown).rejects.toMatchObject({ exitCode: 2, code: 'commander.unknownOption' });
  });
});
