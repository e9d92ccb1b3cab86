import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../harness/tools.js';

/** Runs `tote demo --exit` in `cwd`; fetches the Web UI link as soon as it is printed (the demo is still up). */
function runDemo(cwd: string): Promise<{ code: number | null; out: string; uiStatus?: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot(), 'bin', 'tote.js'), 'demo', '--exit'], {
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let ui: Promise<number> | undefined;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const link = /Web UI: (http:\/\/\S+)/.exec(out)?.[1];
      if (link && !ui)
        ui = fetch(link).then(
          (r) => r.status,
          () => -1,
        );
    });
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      void (ui ?? Promise.resolve(undefined)).then((uiStatus) => resolve({ code, out, uiStatus }));
    });
  });
}

describe('given a fresh directory', () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'tote-demo-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('tote demo --exit should salvage the image for real and print where to look', async () => {
    const { code, out, uiStatus } = await runDemo(cwd);
    if (code !== 0) process.stderr.write(out);
    expect(code).toBe(0);
    expect(out).toMatch(/tote detected it and started workflow salvage\/sha256:[a-f0-9]{64}\/node-2/);
    expect(out).toContain('This is technical debt');
    expect(out).toMatch(/Salvage complete: 32\.0 MiB from node-1; pod restarted: yes/);
    const built = /\((\S+ MiB), (sha256:[a-f0-9]{12})…\)/.exec(out);
    expect(out).toMatch(new RegExp(`digests match: ${built?.[2] ?? 'missing'}[a-f0-9]{52}`));
    expect(out).toMatch(/Backed up to \S+\/backup\/demo\/web:1\.0 \(registry answers HTTP 200/);
    expect(out).toContain('workflow show --address');
    expect(uiStatus).toBe(200);
  });
});
