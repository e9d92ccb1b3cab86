import { jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { main } from './main.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

async function tote(...args: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const so = jest.spyOn(process.stdout, 'write').mockImplementation((c) => (out.push(String(c)), true));
  try {
    return { code: await main(['node', 'tote', ...args]), out: out.join('') };
  } finally {
    so.mockRestore();
  }
}

describe('tote --version', () => {
  test.each([['--version'], ['-V']])(
    'given %s, should print the package.json version and the Node.js version and exit 0',
    async (flag) => {
      const r = await tote(flag);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^tote version ${pkg.version.replaceAll('.', '\\.')} \\(node v\\d+`));
      expect(r.out).toContain(process.version);
    },
  );

  test('the help lists the flag', async () => {
    const r = await tote('--help');
    expect(r.out).toContain('-V, --version');
  });
});
