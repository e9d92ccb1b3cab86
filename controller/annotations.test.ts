import { readToteAnnotations } from './annotations.js';

describe('readToteAnnotations', () => {
  it('given no annotations should return no values and no problems', () => {
    expect(readToteAnnotations(undefined)).toEqual({ values: {}, problems: [] });
    expect(readToteAnnotations({})).toEqual({ values: {}, problems: [] });
  });

  it('given a value that cannot even be printed (not a string) should report it, not throw', () => {
    // The fuzz test's counterexample: String() throws for an object whose toString is not a function.
    const junk = { 'tote.dev/allow': { toString: '' } } as unknown as Record<string, string>;
    const r = readToteAnnotations(junk, 'namespace');
    expect(r.values.allow).not.toBe(true); // junk never opts in
    expect(r.problems.map((p) => p.key)).toEqual(['tote.dev/allow']);
    const weird = { 'tote.dev/': { toString: '' } } as unknown as Record<string, string>;
    expect(() => readToteAnnotations(weird, 'namespace')).not.toThrow();
  });

  it('given only foreign annotations should ignore them', () => {
    const r = readToteAnnotations({
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
      'example.com/tote.dev': 'x',
      'tote.dev': 'x',
    });
    expect(r).toEqual({ values: {}, problems: [] });
  });

  it.each([
    ['true', true],
    ['false', false],
  ])('given tote.dev/allow "%s" should read %p', (value, expected) => {
    expect(readToteAnnotations({ 'tote.dev/allow': value })).toEqual({
      values: { allow: expected },
      problems: [],
    });
  });

  it.each([
    ['true', true],
    ['false', false],
  ])('given tote.dev/auto-salvage "%s" should read %p', (value, expected) => {
    expect(readToteAnnotations({ 'tote.dev/auto-salvage': value }).values).toEqual({ autoSalvage: expected });
  });

  it.each(['True', 'TRUE', 'yes', '1', ' true', 'true ', '', 'enabled'])(
    'given tote.dev/allow %p should read false and report an invalid-boolean problem naming the key',
    (value) => {
      const r = readToteAnnotations({ 'tote.dev/allow': value });
      expect(r.values).toEqual({ allow: false });
      expect(r.problems).toEqual([
        expect.objectContaining({ key: 'tote.dev/allow', value, kind: 'invalid-boolean' }),
      ]);
      expect(r.problems[0]?.message).toContain('tote.dev/allow');
    },
  );

  it('given tote.dev/auto-salvage "flase" should read false and report the key', () => {
    const r = readToteAnnotations({ 'tote.dev/auto-salvage': 'flase' });
    expect(r.values).toEqual({ autoSalvage: false });
    expect(r.problems.map((p) => [p.key, p.kind])).toEqual([['tote.dev/auto-salvage', 'invalid-boolean']]);
  });

  it.each(['auto', 'approve', 'detect-only'] as const)('given tote.dev/mode "%s" should read it', (mode) => {
    expect(readToteAnnotations({ 'tote.dev/mode': mode })).toEqual({ values: { mode }, problems: [] });
  });

  it.each(['Auto', 'aprove', 'detect', 'off', ''])(
    'given tote.dev/mode %p should read detect-only and report an invalid-mode problem',
    (value) => {
      const r = readToteAnnotations({ 'tote.dev/mode': value });
      expect(r.values).toEqual({ mode: 'detect-only' });
      expect(r.problems).toEqual([expect.objectContaining({ key: 'tote.dev/mode', kind: 'invalid-mode' })]);
      expect(r.problems[0]?.message).toMatch(/auto, approve, detect-only/);
    },
  );

  it('given an unknown tote.dev key should report it by name and not read it', () => {
    const r = readToteAnnotations({ 'tote.dev/auto-salvge': 'true', 'tote.dev/allow': 'true' });
    expect(r.values).toEqual({ allow: true });
    expect(r.problems).toEqual([
      expect.objectContaining({ key: 'tote.dev/auto-salvge', kind: 'unknown-key' }),
    ]);
    expect(r.problems[0]?.message).toContain('tote.dev/auto-salvge');
  });

  it('given a known key on the wrong kind of object should report it as misplaced and not read it', () => {
    const onPod = readToteAnnotations({ 'tote.dev/allow': 'true', 'tote.dev/mode': 'auto' }, 'workload');
    expect(onPod.values).toEqual({});
    expect(onPod.problems.map((p) => [p.key, p.kind])).toEqual([
      ['tote.dev/allow', 'misplaced-key'],
      ['tote.dev/mode', 'misplaced-key'],
    ]);
    const onNamespace = readToteAnnotations({ 'tote.dev/auto-salvage': 'true' }, 'namespace');
    expect(onNamespace.values).toEqual({});
    expect(onNamespace.problems[0]).toMatchObject({ key: 'tote.dev/auto-salvage', kind: 'misplaced-key' });
  });

  it('given keys in the scope they belong to should read them without problems', () => {
    expect(
      readToteAnnotations({ 'tote.dev/allow': 'true', 'tote.dev/mode': 'approve' }, 'namespace'),
    ).toEqual({
      values: { allow: true, mode: 'approve' },
      problems: [],
    });
    expect(readToteAnnotations({ 'tote.dev/auto-salvage': 'true' }, 'workload').values).toEqual({
      autoSalvage: true,
    });
  });

  it('given several problems should report each, sorted by key', () => {
    const r = readToteAnnotations({ 'tote.dev/z': '1', 'tote.dev/mode': 'x', 'tote.dev/allow': 'y' });
    expect(r.problems.map((p) => p.key)).toEqual(['tote.dev/allow', 'tote.dev/mode', 'tote.dev/z']);
  });

  it('given a huge bad value should keep the message short but still name the key', () => {
    const r = readToteAnnotations({ 'tote.dev/allow': 'x'.repeat(100_000) });
    expect(r.problems[0]?.message.length).toBeLessThan(300);
    expect(r.problems[0]?.message).toContain('tote.dev/allow');
  });
});
