/**
 * Structured logs (pino, JSON lines on stderr). Secrets are redacted by path, and no code passes a token
 * or passkey to a log call in the first place. On a terminal the same lines are printed in a readable
 * form (pino-pretty, synchronous so nothing is lost on exit); files, pipes, `NO_COLOR`, `--json-logs`
 * and `CLA_JSON_LOGS=1` keep JSON lines for machines.
 */
import { pino, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

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
  /** JSON lines even on a terminal. @default false (env `CLA_JSON_LOGS=1` sets it) */
  json?: boolean;
}

/** Whether logs are printed readably: stderr is a terminal and nothing asked for JSON. */
export function wantsPrettyLogs(
  options: Pick<LoggerOptions, 'destination' | 'json'>,
  env: NodeJS.ProcessEnv = process.env,
  stderrIsTty: boolean = process.stderr.isTTY === true,
): boolean {
  const toStderr = options.destination === undefined || options.destination === 2;
  return toStderr && stderrIsTty && !options.json && !env.NO_COLOR && env.CLA_JSON_LOGS !== '1';
}

/** Creates the process logger. */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.quiet ? 'error' : options.verbose ? 'debug' : 'info';
  const settings = {
    name: options.name,
    level,
    redact: { paths: ['token', 'passkey', 'psk', '*.token', '*.passkey', '*.psk'], censor: '[redacted]' },
    base: { pid: process.pid },
  };
  if (wantsPrettyLogs(options)) {
    return pino(settings, PinoPretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino(settings, pino.destination({ dest: options.destination ?? 2, sync: true, append: true, mkdir: true }));
}

/** A logger that drops everything (library use, tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
