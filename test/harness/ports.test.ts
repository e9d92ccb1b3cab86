import { ProcessExitedEarly, waitFor } from './ports.js';
import { Run } from './run.js';

/** A probe that never answers: only the process's exit (or the timeout) can end the wait. */
const hangs = (): Promise<boolean> => new Promise<boolean>(() => undefined);

describe('waitFor', () => {
  let run: Run;
  beforeEach(() => {
    run = Run.create('ports');
  });
  afterEach(async () => {
    await run.stop();
    run.remove();
  });

  test('given a probe that answers false then a value, should resolve with that value', async () => {
    let calls = 0;
    const v = await waitFor('the third call', async () => (++calls >= 3 ? calls : false), { intervalMs: 1 });
    expect(v).toBe(3);
  });

  test('given a probe that keeps failing, should time out quoting its last error', async () => {
    await expect(
      waitFor(
        'a broken probe',
        async () => {
          throw new Error('connection refused');
        },
        { timeoutMs: 50, intervalMs: 10 },
      ),
    ).rejects.toThrow('timed out after 50 ms waiting for a broken probe: Error: connection refused');
  });

  test('given a number as third argument (the first API), should take it as the timeout', async () => {
    await expect(waitFor('nothing', async () => false, 20)).rejects.toThrow('timed out after 20 ms');
  });

  test('given a process that exits while the probe hangs, should fail at once naming the process and its log', async () => {
    const proc = run.spawn({ name: 'quitter', cmd: process.execPath, args: ['-e', 'process.exit(3)'] });
    const err = await waitFor('quitter ready', hangs, { timeoutMs: 600_000, process: proc }).catch((e) => e);
    expect(err).toBeInstanceOf(ProcessExitedEarly);
    expect((err as ProcessExitedEarly).message).toBe(
      `quitter exited (3) while waiting for quitter ready; see ${proc.logPath}`,
    );
    expect((err as ProcessExitedEarly).logPath).toBe(proc.logPath);
  });

  test('given a process that had already exited, should fail with ProcessExitedEarly, not wait', async () => {
    const proc = run.spawn({ name: 'gone', cmd: process.execPath, args: ['-e', ''] });
    await proc.exited;
    await expect(waitFor('gone ready', hangs, { timeoutMs: 600_000, process: proc })).rejects.toBeInstanceOf(
      ProcessExitedEarly,
    );
  });

  test('given a process that stays up, should resolve, and its later exit should not fail anything', async () => {
    const proc = run.spawn({
      name: 'sleeper',
      cmd: process.execPath,
      args: ['-e', 'setTimeout(() => {}, 60000)'],
    });
    await expect(waitFor('sleeper ready', async () => 'up', { process: proc })).resolves.toBe('up');
    await proc.stop();
    expect(await proc.exited).toBe('SIGTERM');
  });
});
