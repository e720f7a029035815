/**
 * `cla-hub ship LOCAL REMOTE` and `cla-hub fetch REMOTE LOCAL`: argv -> options -> src/hub/transfer.ts.
 * A progress bar on stderr when it is a TTY (not with --json); exit 0 on success, 125 with
 * `✖ message [CODE]` when the hub or the worker refuses or fails (like exec), 130 after Ctrl-C.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import type { AdminClient } from '../hub/admin-client.ts';
import { cliStateDir, FetchLeftovers } from '../hub/fetch-leftovers.ts';
import { fetchFile, shipFile, type TransferOptions, type TransferProgress, type TransferResult } from '../hub/transfer.ts';
import type { Target } from '../protocol/frames.ts';
import { adminDataOption, adminUrlOption, connectAdminOrReport } from './hub-connect.ts';
import { parsePositiveSeconds, splitList } from './parse.ts';
import { formatBytes, ProgressBar } from './progress.ts';
import { guard, success, warn } from './say.ts';
import { cancelOnCtrlC } from './ctrl-c.ts';
import { useTransferGcPolicy } from '../gc-policy.ts';

type Opts = Record<string, string | boolean | undefined>;

/** Adds `ship` and `fetch` to the hub CLI. */
export function registerTransferCommands(program: Command): void {
  targetOptions(
    program
      .command('ship')
      .description('send a local file to a worker: cla-hub ship [options] LOCAL REMOTE')
      .argument('<local>', 'file to send')
      .argument('<remote>', 'path on the worker (parent folders are created)')
      .option('--mode <octal>', 'permissions of the file on the worker, e.g. 0755 (default 0644)'),
  ).action((local: string, remote: string, opts: Opts) => guard(() => shipCommand(local, remote, opts)));

  targetOptions(
    program
      .command('fetch')
      .description('receive a file from a worker: cla-hub fetch [options] REMOTE LOCAL')
      .argument('<remote>', 'file on the worker')
      .argument('<local>', 'local path (an existing folder keeps the remote name)'),
  ).action((remote: string, local: string, opts: Opts) => guard(() => fetchCommand(remote, local, opts)));
}

function targetOptions(command: Command): Command {
  return command
    .option('--worker <id>', 'use this worker')
    .option('--tags <tags>', 'use the first available worker having all these tags (comma separated)')
    .option('--env <env>', 'use a worker serving this environment')
    .option('--project <name>', 'use a worker of this project')
    .option('--wait <seconds>', 'how long to wait for a busy worker', '60')
    .option('--json', 'print one JSON line with the result instead of human output (no progress bar)')
    .addOption(adminUrlOption())
    .addOption(adminDataOption());
}

async function shipCommand(local: string, remote: string, opts: Opts): Promise<void> {
  const mode = opts.mode === undefined ? undefined : parseMode(String(opts.mode));
  // Local mistakes exit 1 before any connection, like other usage errors; only hub/worker failures exit 125.
  const stat = fs.statSync(local, { throwIfNoEntry: false });
  if (!stat) throw new ClaError(ErrorCode.FileNotFound, `Local file ${path.resolve(local)} does not exist`);
  if (!stat.isFile()) throw new ClaError(ErrorCode.IoError, `Local path ${path.resolve(local)} is not a regular file`);
  await transferCommand('ship', opts, (client, target, options) => shipFile(client, target, local, remote, { ...options, ...(mode === undefined ? {} : { mode }) }));
}

async function fetchCommand(remote: string, local: string, opts: Opts): Promise<void> {
  // A fetch killed by SIGKILL leaves its temp file beside the target: the next fetch removes it.
  const leftovers = new FetchLeftovers(cliStateDir(), { warn: (_fields, message) => warn(message) });
  leftovers.sweep();
  await transferCommand('fetch', opts, (client, target, options) => fetchFile(client, target, remote, local, { ...options, leftovers }));
}

type Transfer = (client: AdminClient, target: Target, options: TransferOptions) => Promise<TransferResult>;

async function transferCommand(kind: 'ship' | 'fetch', opts: Opts, transfer: Transfer): Promise<void> {
  useTransferGcPolicy();
  const json = opts.json === true;
  const waitMs = Math.round(parsePositiveSeconds('--wait', String(opts.wait ?? '60'), true) * 1000);
  const target = parseTarget(opts);
  const client = await connectAdminOrReport({ data: opts.data as string | undefined, url: opts.url as string | undefined }, (error) => {
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, op: kind, error: { code: error.code, message: error.message } })}\n`);
  });
  if (!client) return;
  const progress = new ProgressBar({ stream: json ? { write: () => true, isTTY: false } : process.stderr });
  const ctrlC = cancelOnCtrlC(() => {
    progress.clear();
    warn(`cancelling the ${kind} (Ctrl-C again to quit at once)`);
  });
  const labels: Record<TransferProgress['phase'], string> = { hash: 'hashing', send: 'shipping', receive: 'fetching' };
  try {
    const result = await transfer(client, target, {
      signal: ctrlC.signal,
      waitMs,
      onProgress: (p) => progress.update(labels[p.phase], p.bytes, p.total),
    });
    progress.clear();
    if (json) {
      process.stdout.write(`${JSON.stringify({ ok: true, op: kind, ...result })}\n`);
      return;
    }
    const seconds = result.durationMs / 1000;
    const rate = seconds > 0 ? `, ${formatBytes(result.bytes / seconds)}/s` : '';
    const where = `${result.worker}:${result.remotePath}`;
    success(
      kind === 'ship'
        ? `shipped ${formatBytes(result.bytes)} to ${where} in ${seconds.toFixed(2)} s${rate}`
        : `fetched ${formatBytes(result.bytes)} from ${where} to ${result.localPath} in ${seconds.toFixed(2)} s${rate}`,
    );
    process.stdout.write(`ℹ sha256 ${result.sha256}\n`);
  } catch (error) {
    progress.clear();
    if (!(error instanceof ClaError)) throw error;
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, op: kind, error: { code: error.code, message: error.message } })}\n`);
    process.stderr.write(`✖ ${error.message} [${error.code}]\n`);
    // 125 like `docker run` and `cla-hub exec`: the hub or the worker failed; 130 after Ctrl-C.
    process.exitCode = ctrlC.interrupted() && error.code === ErrorCode.Cancelled ? 130 : 125;
  } finally {
    ctrlC.dispose();
    client.close();
  }
}

function parseTarget(opts: Opts): Target {
  return {
    ...(opts.worker === undefined ? {} : { worker: String(opts.worker) }),
    ...(opts.tags === undefined ? {} : { tags: splitList(String(opts.tags)) }),
    ...(opts.env === undefined ? {} : { env: String(opts.env) }),
    ...(opts.project === undefined ? {} : { project: String(opts.project) }),
  };
}

/** `0644`, `644` or `0o644` -> 0o644. */
export function parseMode(raw: string): number {
  const match = /^(?:0o?)?([0-7]{1,4})$/i.exec(raw.trim());
  if (!match) throw new InvalidArgumentError(`Expected \`--mode\` to be octal permissions such as 0644 or 0755, got \`${raw}\``);
  return parseInt(match[1]!, 8);
}
