/**
 * `cla-hub eval` and `cla-hub probe`: run JavaScript on a worker, or ask it a yes/no question.
 * argv -> options -> AdminClient.run; the printing rules are in {@link formatEvalValue}.
 *
 * Exit codes of `eval`: 0 the code returned; 1 the code failed (threw, did not compile, returned a value
 * that cannot be sent: EVAL_ERROR, details and stack on stderr); 2 bad usage; 125 the hub or worker failed
 * (no worker, TIMEOUT, CANCELLED, ...); 130 cancelled with Ctrl-C.
 * Exit codes of `probe`: 0 true, 1 false, 2 bad usage, 125 the hub or worker failed (PATH_NOT_ALLOWED, ...).
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import type { AdminClient } from '../hub/admin-client.ts';
import type { JobSpec, Target } from '../protocol/frames.ts';
import { adminDataOption, adminUrlOption, connectAdmin, isUsageError } from './hub-connect.ts';
import { splitList, parsePositiveSeconds } from './parse.ts';
import { guard, warn } from './say.ts';
import { cancelOnCtrlC } from './ctrl-c.ts';

type Opts = Record<string, string | boolean | undefined>;

/** Adds `eval` and `probe` to the hub CLI. */
export function registerEvalCommands(program: Command): void {
  targetOptions(
    program
      .command('eval')
      .description("run JavaScript on a worker and print what it returns: cla-hub eval [options] 'return os.hostname()'")
      .argument('[code]', 'the body of an async function: `return` gives the result; fs, path, os, child_process, crypto, util, require and import() are available')
      .option('--file <file>', 'read the code from this file (- for stdin) instead of the argument')
      .option('--timeout <seconds>', 'stop the code after this many seconds (worker default: 30)')
      .option('--json', 'print the value as compact JSON (strings quoted, binary as {"$binary": base64})'),
  ).action((code: string | undefined, opts: Opts) => guard(() => evalCommand(code, opts)));

  targetOptions(
    program
      .command('probe')
      .description('ask a worker a yes/no question; prints true or false and exits 0 or 1: cla-hub probe file_exists PATH | capable TAG,TAG')
      .argument('<check>', '`file_exists` (PATH exists on the worker host, within its --root) or `capable` (the worker has all TAGs)')
      .argument('<arg>', 'the PATH or the comma-separated TAGs'),
  ).action((check: string, arg: string, opts: Opts) => guard(() => probeCommand(check, arg, opts)));
}

function targetOptions(command: Command): Command {
  return command
    .option('--worker <id>', 'run on this worker')
    .option('--tags <tags>', 'run on the first available worker having all these tags (comma separated)')
    .option('--env <env>', 'run on a worker serving this environment')
    .option('--project <name>', 'run on a worker of this project')
    .option('--wait <seconds>', 'how long to wait for a busy worker', '60')
    .addOption(adminUrlOption())
    .addOption(adminDataOption());
}

function targetFrom(opts: Opts): Target {
  const text = (key: string) => (typeof opts[key] === 'string' ? (opts[key] as string) : undefined);
  const tags = text('tags');
  return {
    ...(text('worker') === undefined ? {} : { worker: text('worker') }),
    ...(tags === undefined ? {} : { tags: splitList(tags) }),
    ...(text('env') === undefined ? {} : { env: text('env') }),
    ...(text('project') === undefined ? {} : { project: text('project') }),
  };
}

/** The code from exactly one of the argument and `--file`. */
function readCode(code: string | undefined, file: string | undefined): string {
  if ((code === undefined) === (file === undefined)) {
    throw new InvalidArgumentError('Pass the code either as the argument or with --file FILE, exactly one of the two');
  }
  let text = code;
  if (file !== undefined) {
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (error) {
      throw new InvalidArgumentError(`Cannot read --file ${file}: ${(error as Error).message}`, { cause: error });
    }
  }
  if (text === undefined || text.trim() === '') throw new InvalidArgumentError('The code to eval is empty');
  return text;
}

async function evalCommand(code: string | undefined, opts: Opts): Promise<void> {
  const source = readCode(code, typeof opts.file === 'string' ? opts.file : undefined);
  const timeout = typeof opts.timeout === 'string' ? parsePositiveSeconds('--timeout', opts.timeout) : undefined;
  const job: JobSpec = { kind: 'eval', code: source, ...(timeout === undefined ? {} : { timeoutMs: Math.max(1, Math.round(timeout * 1000)) }) };
  const outcome = await runForResult(job, opts);
  if (outcome.ok) {
    const { value, logs, logsTruncated } = evalResultParts(outcome.value);
    writeLogs(logs, logsTruncated);
    process.stdout.write(formatEvalValue(value, { json: opts.json === true }));
    return;
  }
  const error = outcome.error;
  const data = error.data ?? {};
  writeLogs(typeof data.logs === 'string' ? data.logs : '', data.logsTruncated === true);
  if (error.code === ErrorCode.EvalError) {
    if (typeof data.stack === 'string' && data.stack !== '') process.stderr.write(`${data.stack}\n`);
    process.stderr.write(`✖ ${error.message} [${error.code}]\n`);
    process.exitCode = 1;
    return;
  }
  reportHubError(error, outcome.interrupted);
}

async function probeCommand(check: string, arg: string, opts: Opts): Promise<void> {
  let job: JobSpec;
  if (check === 'file_exists') job = { kind: 'probe', check, path: arg };
  else if (check === 'capable') job = { kind: 'probe', check, tags: splitList(arg) };
  else throw new InvalidArgumentError(`Expected the probe check to be \`file_exists\` or \`capable\`, got \`${check}\``);
  const outcome = await runForResult(job, opts);
  if (!outcome.ok) return reportHubError(outcome.error, outcome.interrupted);
  if (typeof outcome.value !== 'boolean') {
    return reportHubError(new ClaError(ErrorCode.Internal, `The worker answered the probe with ${JSON.stringify(outcome.value)}, not a boolean`), false);
  }
  process.stdout.write(`${outcome.value}\n`);
  process.exitCode = outcome.value ? 0 : 1;
}

/** `✖ message [CODE]` and exit 125 (130 after Ctrl-C), like `cla-hub exec`: the hub or worker failed. */
function reportHubError(error: ClaError, interrupted: boolean): void {
  process.stderr.write(`✖ ${error.message} [${error.code}]\n`);
  process.exitCode = interrupted && error.code === ErrorCode.Cancelled ? 130 : 125;
}

type RunOutcome = { ok: true; value: unknown } | { ok: false; error: ClaError; interrupted: boolean };

/** Runs `job` on the target and waits for its `result`; hub and worker errors are returned, not thrown. */
async function runForResult(job: JobSpec, opts: Opts): Promise<RunOutcome> {
  const target = targetFrom(opts);
  const waitMs = Math.round(parsePositiveSeconds('--wait', typeof opts.wait === 'string' ? opts.wait : '60', true) * 1000);
  let client: AdminClient;
  try {
    client = await connectAdmin({ data: opts.data as string | undefined, url: opts.url as string | undefined });
  } catch (error) {
    // Bad usage or no hub data file: exit 2 through guard(); an unreachable hub is a hub error (125).
    if (error instanceof ClaError && !isUsageError(error)) return { ok: false, error, interrupted: false };
    throw error;
  }
  const ctrlC = cancelOnCtrlC(() => warn('cancelling (Ctrl-C again to quit without waiting)'));
  try {
    const value = await new Promise<unknown>((resolve, reject) => {
      let result: unknown;
      client.run(target, job, { waitMs, signal: ctrlC.signal }).subscribe({
        next: (event) => {
          if (event.type === 'result') result = event.value;
        },
        error: reject,
        complete: () => resolve(result),
      });
    });
    return { ok: true, value };
  } catch (error) {
    if (error instanceof ClaError) return { ok: false, error, interrupted: ctrlC.interrupted() };
    throw error;
  } finally {
    ctrlC.dispose();
    client.close();
  }
}

/** The parts of an eval `result` value (`{ value, logs, logsTruncated }`, see src/worker/ops/eval.ts). */
function evalResultParts(result: unknown): { value: unknown; logs: string; logsTruncated: boolean } {
  if (typeof result === 'object' && result !== null && 'value' in result) {
    const parts = result as { value: unknown; logs?: unknown; logsTruncated?: unknown };
    return { value: parts.value, logs: typeof parts.logs === 'string' ? parts.logs : '', logsTruncated: parts.logsTruncated === true };
  }
  return { value: result, logs: '', logsTruncated: false };
}

function writeLogs(logs: string, truncated: boolean): void {
  if (logs !== '') process.stderr.write(logs.endsWith('\n') ? logs : `${logs}\n`);
  if (truncated) warn('the code printed more than the worker keeps; the rest of its output was dropped');
}

/**
 * How `cla-hub eval` prints a returned value, newline-terminated. With `json`: compact JSON of anything.
 * Without: a string as is (like `node -p`), binary as its raw bytes, anything else as indented JSON.
 * In JSON, binary is `{"$binary": "<base64>"}`; NaN and Infinity are `null` as in JSON.stringify.
 */
export function formatEvalValue(value: unknown, options: { json?: boolean } = {}): string | Uint8Array {
  if (!options.json) {
    if (typeof value === 'string') return value.endsWith('\n') ? value : `${value}\n`;
    if (value instanceof Uint8Array) return value;
  }
  return `${JSON.stringify(jsonable(value), null, options.json ? undefined : 2)}\n`;
}

/** A copy of a plain value where binary is `{ $binary: base64 }` (a msgpack Buffer would otherwise print its toJSON). */
function jsonable(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(jsonable);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) Object.defineProperty(out, key, { value: jsonable(item), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value === undefined ? null : value;
}
