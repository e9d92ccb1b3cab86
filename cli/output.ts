/**
 * Human and machine output of the operator's commands: aligned tables, byte and duration formats, a one-line
 * progress bar with bytes and rate, and `--json` printing. Colours only when the stream is a TTY and NO_COLOR is
 * unset (https://no-color.org); nothing here reads the environment or a stream by itself: callers pass them in.
 */

/** Where output goes: stdout or stderr of the process, or a buffer in tests. */
export interface OutStream {
  write(chunk: string): unknown;
  /** True for a terminal. */
  isTTY?: boolean;
  /** Terminal width, when a terminal. */
  columns?: number;
}

/** Whether to colour `stream`: a TTY and NO_COLOR absent or empty. */
export function useColor(stream: OutStream, env: Record<string, string | undefined>): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

/** ANSI styles that do nothing when colours are off. */
export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

function sgr(open: number, close: number, on: boolean): (s: string) => string {
  return on ? (s) => `\x1b[${open}m${s}\x1b[${close}m` : (s) => s;
}

/** The styles for a stream with colours `on` or off. */
export function makeStyle(on: boolean): Style {
  return {
    bold: sgr(1, 22, on),
    dim: sgr(2, 22, on),
    red: sgr(31, 39, on),
    green: sgr(32, 39, on),
    yellow: sgr(33, 39, on),
    cyan: sgr(36, 39, on),
  };
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** The printed width of `s` (ANSI colour codes take no room). */
export function visibleWidth(s: string): number {
  return s.replace(ANSI, '').length;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `1536` → `1.5 KiB`; exact bytes below 1 KiB; three significant digits above. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  let v = n;
  let u = 0;
  while (v >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${n} B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${BYTE_UNITS[u]}`;
}

/** Bytes per second as `12.3 MiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** `83_000` → `1m23s`; `1_500` → `1.5s`; below a second in ms. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(rest).padStart(2, '0')}s`;
}

/** How long ago `then` was, relative to `now`: `45s ago`, `3m ago`, `2h ago`, `4d ago`. */
export function formatAge(then: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** Columns padded to their widest cell (by printed width), two spaces apart, header in bold; no trailing blanks. */
export function renderTable(headers: string[], rows: string[][], style: Style = makeStyle(false)): string {
  const widths = headers.map((h, i) =>
    Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? ''))),
  );
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visibleWidth(c))))
      .join('  ')
      .trimEnd();
  return [style.bold(line(headers)), ...rows.map(line)].join('\n') + '\n';
}

/** `key: value` lines with the keys aligned. */
export function renderFields(fields: Array<[string, string]>, style: Style = makeStyle(false)): string {
  const w = Math.max(0, ...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${style.dim(`${k}:`.padEnd(w + 1))} ${v}`).join('\n') + '\n';
}

/** What one progress line shows. */
export interface ProgressView {
  phase: string;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second, when known. */
  rate?: number;
  /** Extra words after the numbers, e.g. `from node-1`. */
  note?: string;
}

/** `[#########---------]  47%`, `width` characters between the brackets; an empty bar when the total is unknown. */
export function progressBar(done: number, total: number, width: number): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const full = Math.round(frac * width);
  const pct = total > 0 ? `${Math.floor(frac * 100)}%`.padStart(4) : '  -%';
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${pct}`;
}

/** One progress line: `Transferring [####----]  47% 12.0 MiB / 25.5 MiB  3.10 MiB/s  from node-1`. */
export function renderProgress(v: ProgressView, opts: { width?: number; style?: Style } = {}): string {
  const style = opts.style ?? makeStyle(false);
  const bytes = v.bytesTotal > 0 ? `${formatBytes(v.bytesDone)} / ${formatBytes(v.bytesTotal)}` : '';
  const parts = [
    style.cyan(v.phase.padEnd(14)),
    progressBar(v.bytesDone, v.bytesTotal, opts.width ?? 24),
    bytes,
    v.rate !== undefined && v.rate > 0 ? formatRate(v.rate) : '',
    v.note ? style.dim(v.note) : '',
  ];
  return parts.filter(Boolean).join('  ');
}

/**
 * Bytes per second over a sliding window of samples, so the rate follows the transfer instead of averaging from
 * the start (which a slow planning phase would drag down). Time comes in as numbers: no clock of its own.
 */
export class RateMeter {
  private readonly samples: Array<{ t: number; bytes: number }> = [];

  constructor(private readonly windowMs = 5_000) {}

  /** Records `bytes` done at time `t` (ms); a drop (new source, restart from zero) resets the window. */
  add(t: number, bytes: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && bytes < last.bytes) this.samples.length = 0;
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - (this.samples[0]?.t ?? t) > this.windowMs) this.samples.shift();
  }

  /** Bytes per second over the window; undefined until two samples at different times. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t <= first.t) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.t - first.t);
  }
}

/**
 * Draws progress on one line of a terminal (rewritten in place), or, when the stream is not a terminal (CI logs,
 * pipes), prints a line only when the phase changes or another quarter of the bytes is done.
 */
export class ProgressLine {
  private lastPhase = '';
  private lastQuarter = -1;
  private drawn = false;

  constructor(
    private readonly stream: OutStream,
    private readonly style: Style,
  ) {}

  /** Shows `v`. */
  update(v: ProgressView): void {
    if (this.stream.isTTY) {
      const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - 70));
      this.stream.write(`\r\x1b[2K${renderProgress(v, { width, style: this.style })}`);
      this.drawn = true;
      return;
    }
    const quarter = v.bytesTotal > 0 ? Math.floor((4 * v.bytesDone) / v.bytesTotal) : -1;
    if (v.phase === this.lastPhase && quarter === this.lastQuarter) return;
    this.lastPhase = v.phase;
    this.lastQuarter = quarter;
    this.stream.write(`${renderProgress(v, { style: this.style })}\n`);
  }

  /** Ends the line so that what follows starts on a fresh one. */
  done(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** Prints `value` as pretty JSON: the only thing `--json` commands write to stdout. */
export function printJson(stream: OutStream, value: unknown): void {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
}
