import { jest } from '@jest/globals';
import { main } from './main.js';

/** Runs `tote …` in-process; returns the exit code and what went to stdout and stderr. */
async function tote(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const so = jest.spyOn(process.stdout, 'write').mockImplementation((c) => (out.push(String(c)), true));
  const se = jest.spyOn(process.stderr, 'write').mockImplementation((c) => (err.push(String(c)), true));
  try {
    const code = await main(['node', 'tote', ...args]);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
}

describe('the operator commands', () => {
  test.each([['salvage'], ['approve'], ['reject'], ['status']])(
    'tote %s --help prints examples and exits 0',
    async (name) => {
      const r = await tote(name, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain('Examples:');
      expect(r.out).toContain('--temporal-address');
    },
  );

  test('a missing argument is a usage error with a hint, not a stack', async () => {
    const r = await tote('salvage');
    expect(r.code).toBe(1);
    expect(r.err).toContain("missing required argument 'namespace/pod'");
    expect(r.err).not.toContain('    at ');
  });

  test.each([
    [['salvage', 'web-1'], 'expected <namespace>/<pod>'],
    [['salvage', 'kube-system/coredns-1'], 'tote never acts in kube-system'],
    [['salvage', 'shop/web-1', '--temporal-address', 'nope'], '--temporal-address: invalid value "nope"'],
    [['salvage', 'shop/web-1', '--poll-interval', 'fast'], '--poll-interval: invalid value "fast"'],
    [['status', '--since', 'yesterday'], '--since: invalid value "yesterday"'],
    [['status', '--limit', '0'], '--limit: invalid value "0"'],
    [['status', '--pod', 'nope'], 'expected <namespace>/<pod>'],
    [['approve', ' '], 'give the workflow id'],
  ])('tote %j fails with one line: %s', async (args, msg) => {
    const r = await tote(...args);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`tote: ${r.err.slice(6).split('\n')[0]}\n`);
    expect(r.err).toContain(msg);
  });
});
