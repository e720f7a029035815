/**
 * Recording of every frame crossing a process's transports, as JSON lines:
 * `{"at":ms,"conn":"c1","dir":"in","b64":"..."}` for frames and `{"at":ms,"conn":"c1","event":"open",...}`
 * for connection events. The raw bytes are kept, so replays decode them with the real codec.
 */
import fs from 'node:fs';
import type { Clock } from '../clock.ts';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import { systemClock } from '../clock.ts';
import { tightenToOwnerOnly } from '../file-mode.ts';
import type { Direction, FrameTap } from './transport.ts';

/** One line of a recording. */
export type RecordLine =
  | { at: number; conn: string; dir: Direction; b64: string }
  | { at: number; conn: string; event: 'open' | 'close' | 'meta'; detail: string };

/**
 * A {@link FrameTap} that appends to a file, created 0600; an existing file with group or other bits is
 * tightened to owner-only (with a warning) before anything is written to it.
 */
export class FrameRecorder implements FrameTap {
  private readonly fd: number;

  constructor(
    readonly path: string,
    private readonly clock: Clock = systemClock,
    /** What recorded: `hub` or `worker`, written as the first line. */
    role = 'hub',
    /** Told when an existing file's mode was too wide. @default ignore */
    warn: (message: string) => void = () => undefined,
  ) {
    this.fd = fs.openSync(path, 'a', 0o600);
    try {
      tightenToOwnerOnly(path, 'recording', warn, this.fd);
    } catch (error) {
      fs.closeSync(this.fd);
      throw error;
    }
    this.write({ at: this.clock.now(), conn: '-', event: 'meta', detail: JSON.stringify({ role, pid: process.pid }) });
  }

  frame(connection: string, direction: Direction, bytes: Uint8Array): void {
    this.write({ at: this.clock.now(), conn: connection, dir: direction, b64: Buffer.from(bytes).toString('base64') });
  }

  event(connection: string, event: 'open' | 'close', detail: string): void {
    this.write({ at: this.clock.now(), conn: connection, event, detail });
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private write(line: RecordLine): void {
    fs.writeSync(this.fd, `${JSON.stringify(line)}\n`);
  }
}

/** Reads a recording back. Lines that are not JSON are reported with their line number. */
export function readRecording(path: string): RecordLine[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') throw new ClaError(ErrorCode.FileNotFound, `Recording ${path} does not exist; make one with \`cla-hub start --record FILE\` or \`cla-worker run --record FILE\``, { cause: error });
    throw new ClaError(ErrorCode.IoError, `Cannot read recording ${path}: ${(error as Error).message}`, { cause: error, data: { errno: errno ?? null } });
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return lines.map((line, index) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (!isRecordLine(parsed)) throw new InvalidArgumentError(`${path}:${index + 1}: not a recording line (expected JSON with \`at\`, \`conn\` and \`b64\` or \`event\`)`);
    return parsed;
  });
}

function isRecordLine(value: unknown): value is RecordLine {
  if (typeof value !== 'object' || value === null) return false;
  const line = value as Record<string, unknown>;
  return typeof line.at === 'number' && typeof line.conn === 'string' && (typeof line.b64 === 'string' || typeof line.event === 'string');
}
