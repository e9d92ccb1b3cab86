import { deadline, fail, guard, pass, toReport, warn } from './doctor-report.js';

test('given only passes and warnings, the report should be healthy; one failure makes it unhealthy', () => {
  const ok = [pass('a', 'fine'), warn('b', 'meh', 'do x')];
  expect(toReport(ok)).toEqual({ healthy: true, checks: ok });
  expect(toReport([...ok, fail('c', 'broken', 'do y')]).healthy).toBe(false);
  expect(warn('b', 'meh', 'do x')).toMatchObject({ ok: true, status: 'warn', hint: 'do x' });
  expect(fail('c', 'broken', 'do y')).toMatchObject({ ok: false, status: 'fail', hint: 'do y' });
});

test('given a check that throws, guard should turn it into a failed row with the hint', async () => {
  const rows = await guard({ name: 'x', timeoutMs: 1000, hint: 'look at x' }, () =>
    Promise.reject(new Error('boom\nstack-ish second line')),
  );
  expect(rows).toEqual([fail('x', 'boom', 'look at x')]);
});

test('given a check that never answers, guard should fail it at the deadline', async () => {
  const rows = await guard({ name: 'slow', timeoutMs: 20, hint: 'h' }, () => new Promise(() => undefined));
  expect(rows[0]).toMatchObject({ name: 'slow', ok: false, detail: 'no answer within 0s' });
});

test('given a check that returns several rows, guard should pass them through', async () => {
  const rows = [pass('a', '1'), pass('b', '2')];
  expect(await guard({ name: 'x', timeoutMs: 1000, hint: '' }, async () => rows)).toEqual(rows);
  await expect(deadline(Promise.resolve(7), 1000)).resolves.toBe(7);
});
