/**
 * A one-line progress bar for long transfers, drawn on a TTY (stderr) only: bytes, percent, rate over the
 * last seconds, and ETA, redrawn at most every `intervalMs`. The formatting functions are pure so tests
 * can check them without a terminal.
 */
import { systemClock, type Clock } from '../clock.ts';

/** What the bar needs from a stream (a `tty.WriteStream` has all of it). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options for {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** Where to draw; nothing is drawn unless it is a TTY. */
  stream: ProgressStream;
  clock?: Clock;
  /** Least time between two redraws, in ms. @default 100 */
  intervalMs?: number;
  /** Draw even when `stream.isTTY` is false (tests). @default false */
  force?: boolean;
}

/** One state of the bar. */
export interface ProgressState {
  label: string;
  bytes: number;
  total: number | undefined;
  /** Bytes per second, if known. */
  rate: number | undefined;
}

const RATE_WINDOW_MS = 3000;

/** A throttled progress line; `update` as often as you like. */
export class ProgressBar {
  private readonly clock: Clock;
  private readonly enabled: boolean;
  private lastDraw = -Infinity;
  private drawn = false;
  private label = '';
  private samples: Array<{ at: number; bytes: number }> = [];

  constructor(private readonly options: ProgressBarOptions) {
    this.clock = options.clock ?? systemClock;
    this.enabled = options.force === true || options.stream.isTTY === true;
  }

  /** Records progress; redraws when `intervalMs` has passed since the last draw (or the label changed). */
  update(label: string, bytes: number, total: number | undefined): void {
    if (!this.enabled) return;
    const now = this.clock.now();
    if (label !== this.label) {
      this.label = label;
      this.samples = [];
      this.lastDraw = -Infinity;
    }
    this.samples.push({ at: now, bytes });
    while (this.samples.length > 2 && now - this.samples[0]!.at > RATE_WINDOW_MS) this.samples.shift();
    const complete = total !== undefined && bytes >= total;
    if (!complete && now - this.lastDraw < (this.options.intervalMs ?? 100)) return;
    this.lastDraw = now;
    // A pty whose size was never set reports 0 columns.
    const columns = this.options.stream.columns && this.options.stream.columns > 20 ? this.options.stream.columns : 80;
    this.draw(formatProgress({ label, bytes, total, rate: this.rate() }, columns));
  }

  /** Removes the line, so what is printed next starts on a clean line. */
  clear(): void {
    if (this.drawn) this.options.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  private rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 200) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }

  private draw(text: string): void {
    this.drawn = true;
    this.options.stream.write(`\r${text}\x1b[K`);
  }
}

/** `shipping  [█████░░░░░]  45%  43.2 MiB / 96.0 MiB  85.3 MiB/s  ETA 0:01`, fitted to `columns`. */
export function formatProgress(state: ProgressState, columns = 80): string {
  const { label, bytes, total, rate } = state;
  const speed = rate === undefined ? '' : `  ${formatBytes(rate)}/s`;
  if (total === undefined) return `${label}  ${formatBytes(bytes)}${speed}`.slice(0, Math.max(0, columns - 1));
  const fraction = total === 0 ? 1 : Math.min(1, bytes / total);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const eta = rate !== undefined && rate > 0 && bytes < total ? `  ETA ${formatDuration((total - bytes) / rate)}` : '';
  const tail = `${percent}  ${formatBytes(bytes)} / ${formatBytes(total)}${speed}${eta}`;
  // The bar's width depends on the terminal only, not on the tail, so it does not jitter as numbers change.
  const width = Math.min(30, columns - 1 - label.length - 6 - TAIL_RESERVE);
  if (width < 5 || label.length + tail.length + width + 6 > columns - 1) return `${label}  ${tail}`.slice(0, Math.max(0, columns - 1));
  const filled = Math.round(fraction * width);
  return `${label}  [${'█'.repeat(filled)}${'░'.repeat(width - filled)}]  ${tail}`;
}

/** Room kept for the tail: `100%  999.9 MiB / 999.9 MiB  999.9 MiB/s  ETA 0:00`. */
const TAIL_RESERVE = 50;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Binary units with one decimal from KiB up: `512 B`, `1.5 KiB`, `96.0 MiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** `m:ss`, or `h:mm:ss` from an hour up. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
