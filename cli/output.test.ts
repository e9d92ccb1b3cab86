import {
  formatAge,
  formatBytes,
  formatDuration,
  formatRate,
  makeStyle,
  printJson,
  progressBar,
  ProgressLine,
  RateMeter,
  renderFields,
  renderProgress,
  renderTable,
  useColor,
  visibleWidth,
  type OutStream,
} from './output.js';

/** A stream that keeps what is written. */
function buffer(isTTY = false): OutStream & { text: string } {
  const s = { text: '', isTTY, columns: 100, write: (c: string) => ((s.text += c), true) };
  return s;
}

describe('useColor', () => {
  test('given a TTY without NO_COLOR, should colour', () => {
    expect(useColor({ write: () => true, isTTY: true }, {})).toBe(true);
  });
  test('given NO_COLOR set (any non-empty value), should not colour', () => {
    expect(useColor({ write: () => true, isTTY: true }, { NO_COLOR: '1' })).toBe(false);
  });
  test('given an empty NO_COLOR, should colour as the spec says', () => {
    expect(useColor({ write: () => true, isTTY: true }, { NO_COLOR: '' })).toBe(true);
  });
  test('given a pipe, should not colour', () => {
    expect(useColor({ write: () => true }, {})).toBe(false);
  });
});

describe('makeStyle', () => {
  test('given colours off, should return the text unchanged', () => {
    expect(makeStyle(false).red('x')).toBe('x');
  });
  test('given colours on, should wrap in SGR codes that take no printed width', () => {
    const s = makeStyle(true).bold('abc');
    expect(s).toBe('\x1b[1mabc\x1b[22m');
    expect(visibleWidth(s)).toBe(3);
  });
});

describe('formats', () => {
  test.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.00 KiB'],
    [1536, '1.50 KiB'],
    [10 * 1024 * 1024 + 1, '10.0 MiB'],
    [150 * 1024 ** 3, '150 GiB'],
  ])('formatBytes(%d) = %s', (n, s) => expect(formatBytes(n)).toBe(s));

  test('formatBytes of a negative or non-finite value is "?"', () => {
    expect(formatBytes(-1)).toBe('?');
    expect(formatBytes(Number.NaN)).toBe('?');
  });

  test('formatRate appends /s', () => expect(formatRate(3 * 1024 * 1024)).toBe('3.00 MiB/s'));

  test.each([
    [250, '250ms'],
    [1500, '1.5s'],
    [83_000, '1m23s'],
    [2 * 3600_000 + 5 * 60_000, '2h05m'],
  ])('formatDuration(%d) = %s', (ms, s) => expect(formatDuration(ms)).toBe(s));

  test('formatAge counts back from now', () => {
    const now = new Date('2026-01-01T12:00:00Z');
    expect(formatAge(new Date('2026-01-01T11:59:15Z'), now)).toBe('45s ago');
    expect(formatAge(new Date('2026-01-01T11:57:00Z'), now)).toBe('3m ago');
    expect(formatAge(new Date('2025-12-30T12:00:00Z'), now)).toBe('2d ago');
  });
});

describe('renderTable', () => {
  test('given cells of different widths, should align columns and trim trailing blanks', () => {
    const out = renderTable(
      ['ID', 'PHASE'],
      [
        ['a', 'Completed'],
        ['longer-id', 'x'],
      ],
    );
    expect(out).toBe('ID         PHASE\na          Completed\nlonger-id  x\n');
  });
  test('given coloured cells, should align on the printed width', () => {
    const st = makeStyle(true);
    const out = renderTable(['A', 'B'], [[st.red('xx'), 'y']], makeStyle(false));
    expect(out.split('\n')[1]).toBe(`${st.red('xx')}  y`);
  });
  test('renderFields aligns the keys', () => {
    expect(
      renderFields([
        ['Image', 'a'],
        ['Web UI', 'b'],
      ]),
    ).toBe('Image:  a\nWeb UI: b\n');
  });
});

describe('progress', () => {
  test('progressBar fills in proportion and shows the percentage', () => {
    expect(progressBar(50, 100, 10)).toBe('[#####-----]  50%');
    expect(progressBar(0, 0, 4)).toBe('[----]   -%');
    expect(progressBar(200, 100, 4)).toBe('[####] 100%');
  });

  test('renderProgress shows phase, bar, bytes, rate and note', () => {
    const line = renderProgress(
      {
        phase: 'Transferring',
        bytesDone: 1024 * 1024,
        bytesTotal: 4 * 1024 * 1024,
        rate: 512 * 1024,
        note: 'from node-1',
      },
      { width: 8 },
    );
    expect(line).toBe('Transferring    [##------]  25%  1.00 MiB / 4.00 MiB  512 KiB/s  from node-1');
  });

  test('RateMeter measures over its window and restarts when bytes drop', () => {
    const m = new RateMeter(5_000);
    expect(m.rate()).toBeUndefined();
    m.add(0, 0);
    m.add(1_000, 1_000);
    m.add(2_000, 3_000);
    expect(m.rate()).toBe(1_500);
    m.add(10_000, 11_000); // old samples leave the window
    expect(m.rate()).toBe(1_000);
    m.add(11_000, 0); // a new source starts from zero
    expect(m.rate()).toBeUndefined();
  });

  test('ProgressLine on a TTY rewrites one line and ends it once', () => {
    const out = buffer(true);
    const line = new ProgressLine(out, makeStyle(false));
    line.update({ phase: 'Locating', bytesDone: 0, bytesTotal: 0 });
    line.update({ phase: 'Transferring', bytesDone: 5, bytesTotal: 10 });
    line.done();
    line.done();
    expect(out.text.match(/\r\x1b\[2K/g)).toHaveLength(2);
    expect(out.text.endsWith('\n')).toBe(true);
    expect(out.text.split('\n')).toHaveLength(2);
  });

  test('ProgressLine on a pipe prints only phase changes and quarters', () => {
    const out = buffer(false);
    const line = new ProgressLine(out, makeStyle(false));
    for (const done of [0, 1, 2, 30, 31, 60, 100])
      line.update({ phase: 'Transferring', bytesDone: done, bytesTotal: 100 });
    line.update({ phase: 'Verifying', bytesDone: 100, bytesTotal: 100 });
    line.done();
    const lines = out.text.trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual([
      'Transferring',
      'Transferring',
      'Transferring',
      'Transferring',
      'Verifying',
    ]);
    expect(out.text).not.toContain('\r');
  });
});

test('printJson prints parseable JSON and a newline', () => {
  const out = buffer();
  printJson(out, { a: 1, b: [true] });
  expect(JSON.parse(out.text)).toEqual({ a: 1, b: [true] });
  expect(out.text.endsWith('\n')).toBe(true);
});
