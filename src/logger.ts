/**
 * Structured logs (pino, JSON lines on stderr). Secrets are redacted by path, and no code passes a token
 * or passkey to a log call in the first place.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Log debug lines. @default false */
  verbose?: boolean;
  /** Log only errors. @default false */
  quiet?: boolean;
  /** Component name in every line, e.g. `hub` or `worker`. */
  name: string;
  /** Where to write; a file path appends to it. @default stderr */
  destination?: string | number;
}

/** Creates the process logger. */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.quiet ? 'error' : options.verbose ? 'debug' : 'info';
  return pino(
    {
      name: options.name,
      level,
      redact: { paths: ['token', 'passkey', 'psk', '*.token', '*.passkey', '*.psk'], censor: '[redacted]' },
      base: { pid: process.pid },
    },
    pino.destination({ dest: options.destination ?? 2, sync: true, append: true, mkdir: true }),
  );
}

/** A logger that drops everything (library use, tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
