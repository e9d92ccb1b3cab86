import { status } from '@grpc/grpc-js';
import { SessionRegistry, type SessionSpec } from './sessions.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const BLOBS = new Map([[`sha256:${'c'.repeat(64)}`, 10]]);

function registry(): { sessions: SessionRegistry<string>; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  return { sessions: new SessionRegistry<string>({ node: 'a', now: () => clock.now }), clock };
}

/** What PrepareExport does: reuse the live session of the same binding, else register a new one. */
function prepare(sessions: SessionRegistry<string>, spec: Partial<SessionSpec>, digest = DIGEST): void {
  const s = sessions.normalize({ token: 'T'.repeat(32), sourceNode: 'a', ttlSeconds: 10, ...spec }, digest);
  if (!sessions.existing(s)) sessions.register(s, BLOBS, 'described');
}

const refusal = (fn: () => void): { code?: number; message?: string } => {
  try {
    fn();
  } catch (err) {
    return err as { code: number; message: string };
  }
  throw new Error('not refused');
};

describe('a replayed session token', () => {
  test('given its session expired, should not be re-bound to another target or image while remembered', () => {
    const { sessions, clock } = registry();
    prepare(sessions, { targetNode: 'b' });
    clock.now += 10_001;
    expect(refusal(() => sessions.authorize('T'.repeat(32), [...BLOBS.keys()][0] ?? '', 'b'))).toMatchObject({
      code: status.UNAUTHENTICATED,
      message: 'session expired',
    });
    expect(refusal(() => prepare(sessions, { targetNode: 'c' }))).toMatchObject({
      code: status.PERMISSION_DENIED,
      message: 'session token is already bound to another image or target',
    });
    expect(refusal(() => prepare(sessions, { targetNode: 'b' }, OTHER))).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
  });

  test('given its session expired, its own binding may prepare it again (a resumed transfer)', () => {
    const { sessions, clock } = registry();
    prepare(sessions, { targetNode: 'b' });
    clock.now += 10_001;
    prepare(sessions, { targetNode: 'b' });
    expect(sessions.authorize('T'.repeat(32), [...BLOBS.keys()][0] ?? '', 'b').targetNode).toBe('b');
  });

  test('given a live session, a read by another node is PERMISSION_DENIED whatever it claims', () => {
    const { sessions } = registry();
    prepare(sessions, { targetNode: 'b' });
    expect(refusal(() => sessions.authorize('T'.repeat(32), [...BLOBS.keys()][0] ?? '', 'c'))).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
  });
});
