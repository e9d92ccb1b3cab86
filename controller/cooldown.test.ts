import { cooldownLeft, FAILED_SALVAGE_COOLDOWN_MS } from './cooldown.js';

const closed = new Date('2026-11-25T03:00:00Z');
const at = (minutes: number): Date => new Date(closed.getTime() + minutes * 60_000);

describe('cooldownLeft', () => {
  test.each(['FAILED', 'TIMED_OUT', 'TERMINATED', 'CANCELLED'])(
    'given a run closed %s a minute ago, should wait out the rest of the cool-down',
    (status) => {
      expect(cooldownLeft({ status, closeTime: closed }, at(1))).toBe(FAILED_SALVAGE_COOLDOWN_MS - 60_000);
    },
  );

  test('given a failed run closed longer ago than the cool-down, should allow a new run', () => {
    expect(cooldownLeft({ status: 'FAILED', closeTime: closed }, at(11))).toBe(0);
    expect(cooldownLeft({ status: 'FAILED', closeTime: closed }, at(3), 2 * 60_000)).toBe(0);
  });

  test.each(['RUNNING', 'COMPLETED'])('given a run %s, should start (or join) at once', (status) => {
    expect(cooldownLeft({ status, closeTime: closed }, at(0))).toBe(0);
  });

  test('given a completed run for a container that pulls with Always, should wait out the cool-down', () => {
    const last = { status: 'COMPLETED', closeTime: closed };
    expect(cooldownLeft(last, at(1), FAILED_SALVAGE_COOLDOWN_MS, { pullPolicy: 'Always' })).toBe(
      FAILED_SALVAGE_COOLDOWN_MS - 60_000,
    );
    expect(cooldownLeft(last, at(11), FAILED_SALVAGE_COOLDOWN_MS, { pullPolicy: 'Always' })).toBe(0);
    expect(cooldownLeft(last, at(1), FAILED_SALVAGE_COOLDOWN_MS, { pullPolicy: 'IfNotPresent' })).toBe(0);
  });
});
