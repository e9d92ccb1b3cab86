import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
    expect(out).toMatch(
      /its kubelet says (ErrImagePull|ImagePullBackOff):\n\s+.*failed to pull and unpack image/,
    );
    expect(out).toMatch(/Salvage complete: 33\.0 MiB from node-1; pod restarted: yes/);
    // The workflow's final progress reaches the last progress line: the whole image, not "0 B".
    expect(out).toMatch(/Completed\s+\[#+\]\s+100%\s+33\.0 MiB \/ 33\.0 MiB/);
    const built = /\((\S+ MiB), (sha256:[a-f0-9]{12})…\)/.exec(out);
    expect(out).toMatch(new RegExp(`digests match: ${built?.[2] ?? 'missing'}[a-f0-9]{52}`));
    expect(out).toMatch(/Backed up to \S+\/backup\/demo\/web:1\.0 \(registry answers HTTP 200/);
    expect(out).toContain('workflow show --address');
    // The replacement pod of the Deployment runs on node-2 from the salvaged image, and its log is readable.
    expect(out).toMatch(/web-\S+\s+1\/1\s+Running\s+0\s+\S+\s+\S+\s+node-2/);
    expect(out).toMatch(/kubectl logs web-\S+: web 1\.0: serving the shop/);
    expect(out).toMatch(/Pod failure → Running in \d+\.\d s/);
    expect(uiStatus).toBe(200);
  });
});

/**
 * Processes of the demo in `cwd` still alive: those its runs recorded, and any other whose command line names the
 * run directory (runc shims and the containers they hold, which containerd starts outside the recorded groups).
 */
function survivors(cwd: string): string[] {
  const root = path.join(cwd, '.tote-runs');
  if (!existsSync(root)) return [];
  const recorded = readdirSync(root).flatMap((d) => {
    const f = path.join(root, d, 'pids');
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
  });
  const alive = recorded.filter((pid) => existsSync(`/proc/${pid}`)).map((pid) => `pid ${pid}`);
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(root)) alive.push(`pid ${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return alive;
}

/** Starts `tote demo` in `cwd`; `onLine` sees each stdout line and may end the reader or signal the demo. */
function startDemo(cwd: string, onLine: (line: string, child: ChildProcess) => void): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot(), 'bin', 'tote.js'), 'demo'], {
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) onLine(l, child);
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

describe('given a demo whose output goes away or that is interrupted', () => {
  const cwds: string[] = [];
  afterAll(() => cwds.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('should stop every daemon it started when its stdout closes early (| head)', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'tote-demo-epipe-'));
    cwds.push(cwd);
    // The reader goes away after the first line, as `tote demo | head -1` does: every later write fails.
    const code = await startDemo(cwd, (_line, child) => child.stdout?.destroy());
    expect(code).toBe(130);
    expect(survivors(cwd)).toEqual([]);
  });

  it('should stop every daemon it started on SIGINT in the middle of the story', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'tote-demo-sigint-'));
    cwds.push(cwd);
    let sent = false;
    const code = await startDemo(cwd, (line, child) => {
      if (!sent && line.includes('tote detected it')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(sent).toBe(true);
    expect(code).toBe(130);
    expect(survivors(cwd)).toEqual([]);
  });
});
