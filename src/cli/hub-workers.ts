/**
 * `cla-hub workers ...`: worker management from the command line, through the hub's admin HTTP API (the
 * same operations as the dashboard, see src/hub/management.ts). The API's URL comes from `--admin-url`,
 * `CLA_HUB_ADMIN_URL`, or what the hub saved in its data file (`hub.admin_url`); the admin token from
 * `CLA_HUB_ADMIN_TOKEN` or the file beside the data file. argv -> options -> calls; no logic of its own.
 */
import fs from 'node:fs';
import readline from 'node:readline/promises';
import { Option, type Command } from 'commander';
import { ClaError, ErrorCode, InvalidArgumentError, fromWireError, type WireError } from '../errors.ts';
import { DEFAULT_ADMIN_PORT } from '../hub/admin-http.ts';
import { openRegistry, readAdminToken, resolveDataFile } from '../hub/hub-files.ts';
import { SHUTDOWN_WARNING, type JobView, type ManagedWorker, type ManageResult } from '../hub/management.ts';
import { adminDataOption } from './hub-connect.ts';
import { guard, info, line, success, warn } from './say.ts';

interface ApiOptions {
  data?: string;
  adminUrl?: string;
}

/** `--admin-url URL`: the hub's admin API. */
function adminUrlOption(): Option {
  return new Option('--admin-url <url>', 'admin API URL (env CLA_HUB_ADMIN_URL; default: the URL the hub saved in its data file)');
}

function adminUrlFromData(dataFile: string): string | undefined {
  if (!fs.existsSync(dataFile)) return undefined;
  const { registry, close } = openRegistry(dataFile);
  let saved: string | undefined;
  try {
    saved = registry.getSetting('hub.admin_url');
  } finally {
    close();
  }
  // Saved empty: that hub runs without its admin API. The default port then belongs to another hub (or
  // nobody), so guessing it would talk to the wrong hub (issue 11, integration/daemon).
  if (saved === '') {
    throw new ClaError(ErrorCode.ConfigMissing, `The hub of ${dataFile} runs without its admin API (its port was taken, or --no-admin). Restart it with --admin-port PORT (0 picks a free one), or pass --admin-url.`);
  }
  return saved;
}

/** Calls the admin API; errors come back as the hub's {@link ClaError}s. */
async function api<T>(opts: ApiOptions, method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<T> {
  const dataFile = resolveDataFile(opts.data);
  const base = opts.adminUrl ?? process.env.CLA_HUB_ADMIN_URL ?? adminUrlFromData(dataFile) ?? `http://127.0.0.1:${DEFAULT_ADMIN_PORT}`;
  const token = readAdminToken(dataFile);
  let response: Response;
  try {
    response = await fetch(new URL(path, base), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
      body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
    });
  } catch (error) {
    throw new ClaError(ErrorCode.ConnectionFailed, `Cannot reach the hub's admin API at ${base}: is the hub running (\`cla-hub start\`)? Pass --admin-url if it listens elsewhere.`, { cause: error, retryable: true });
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    throw new ClaError(ErrorCode.Internal, `The admin API answered ${response.status} with something that is not JSON`);
  }
  if (!response.ok) {
    const wire = (parsed as { error?: WireError } | null)?.error;
    throw wire ? fromWireError(wire) : new ClaError(ErrorCode.Internal, `The admin API answered ${response.status}`);
  }
  return parsed as T;
}

const enc = encodeURIComponent;

/** `2026-11-02 10:11:12Z` */
function when(ms: number | null): string {
  return ms === null ? '-' : `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

const list = (items: string[]) => (items.length ? items.join(',') : '-');

/** Prints rows as columns padded to their widest cell. */
function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [header, ...rows]) line(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

function printWorkers(workers: ManagedWorker[]): void {
  if (workers.length === 0) {
    info('no workers registered');
    return;
  }
  table(
    ['ID', 'STATE', 'PROJECTS', 'TAGS', 'ENVS', 'ORIGIN', 'PID', 'CONNECTED SINCE / LAST SEEN', 'JOBS', 'RUNNING', 'FAILURES', 'SHARED WITH'],
    workers.map((w) => [
      w.id,
      w.disabled && !w.state.includes('disabled') ? `${w.state} (disabled)` : w.state,
      list(w.projects),
      list(w.tags),
      list(w.envs),
      // Clarive workers on the legacy pubsub (issue 14) are marked: their platform is `legacy-pubsub N.x`.
      `${w.origin ?? '-'}${w.platform?.startsWith('legacy-pubsub') ? ` (${w.platform.replace('-pubsub', '')})` : ''}`,
      w.pid === null ? '-' : String(w.pid),
      w.connected ? `since ${when(w.connectedSince)}` : `seen ${when(w.lastSeen)}`,
      String(w.jobsRun),
      String(w.runningJobs),
      String(w.failures),
      list(w.sharedWith),
    ]),
  );
}

function printJobs(jobs: JobView[]): void {
  if (jobs.length === 0) {
    info('no jobs recorded');
    return;
  }
  table(
    ['JOB', 'WORKER', 'KIND', 'STARTED', 'OUTCOME', 'EXIT', 'BYTES', 'COMMAND'],
    jobs.map((j) => [
      j.id,
      j.workerId,
      j.kind,
      when(j.startedAt),
      j.outcome ?? 'running',
      j.exitCode === null ? (j.signal ?? j.errorCode ?? '-') : String(j.exitCode),
      String(j.outputBytes),
      (typeof j.command === 'string' ? j.command : JSON.stringify(j.command)).replace(/\s+/g, ' ').slice(0, 60),
    ]),
  );
}

function printResult(result: ManageResult, done: string): void {
  success(`worker ${result.worker.id} ${done} (projects: ${result.worker.projects.join(', ')})`);
  for (const text of result.warnings) warn(text);
}

/** Asks on the terminal; only called when stdin is a TTY. */
async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** Adds `cla-hub workers ...` to the hub CLI. */
export function registerWorkersCommands(program: Command): void {
  const workers = program.command('workers').description('manage workers through the running hub (list, disable, enable, shutdown, unregister, jobs)');
  const withApi = (command: Command) => command.addOption(adminUrlOption()).addOption(adminDataOption());

  withApi(workers.command('list').description('list workers: state, projects, tags, envs, origin, jobs, sharing'))
    .option('--project <name>', 'only workers of this project (shared workers show the other projects)')
    .option('--json', 'print JSON')
    .action((opts) =>
      guard(async () => {
        const rows = await api<ManagedWorker[]>(opts, 'GET', `/api/workers${opts.project ? `?project=${enc(opts.project)}` : ''}`);
        if (opts.json) line(JSON.stringify(rows, null, 2));
        else printWorkers(rows);
      }),
    );

  withApi(workers.command('show <id>').description("one worker and its recent jobs (with the tail of each job's output)"))
    .option('--json', 'print JSON')
    .action((id: string, opts) =>
      guard(async () => {
        const detail = await api<ManagedWorker & { recentJobs: JobView[] }>(opts, 'GET', `/api/workers/${enc(id)}`);
        if (opts.json) {
          line(JSON.stringify(detail, null, 2));
          return;
        }
        const { recentJobs, ...worker } = detail;
        printWorkers([worker]);
        line('');
        printJobs(recentJobs);
      }),
    );

  withApi(workers.command('disable <id>').description('stop sending new jobs to a worker; its process keeps running (affects every project sharing it)')).action((id: string, opts) =>
    guard(async () => printResult(await api<ManageResult>(opts, 'POST', `/api/workers/${enc(id)}/disable`), 'disabled')),
  );

  withApi(workers.command('enable <id>').description('let a disabled worker take jobs again')).action((id: string, opts) =>
    guard(async () => printResult(await api<ManageResult>(opts, 'POST', `/api/workers/${enc(id)}/enable`), 'enabled')),
  );

  withApi(workers.command('shutdown <id>').description('make the worker process exit; it does not come back by itself'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action((id: string, opts) =>
      guard(async () => {
        if (!opts.yes) {
          warn(SHUTDOWN_WARNING);
          if (!process.stdin.isTTY) throw new InvalidArgumentError('Not on a terminal: pass --yes to shut the worker down');
          if (!(await confirm(`Shut down worker ${id}?`))) {
            info('not shut down');
            return;
          }
        }
        const result = await api<ManageResult>(opts, 'POST', `/api/workers/${enc(id)}/shutdown`);
        printResult({ ...result, warnings: result.warnings.filter((text) => opts.yes || text !== SHUTDOWN_WARNING) }, 'is shutting down');
      }),
    );

  withApi(workers.command('unregister <id>').description('remove a worker from one project; its other projects keep it'))
    .requiredOption('--project <name>', 'the project to remove it from')
    .action((id: string, opts) =>
      guard(async () => {
        const result = await api<{ projects: string[]; deleted: boolean }>(opts, 'POST', `/api/workers/${enc(id)}/unregister`, { project: opts.project });
        if (result.deleted) success(`worker ${id} unregistered from ${opts.project}; it had no other project and was removed`);
        else success(`worker ${id} unregistered from ${opts.project}; still in: ${result.projects.join(', ')}`);
      }),
    );

  withApi(workers.command('jobs').description('recent jobs, newest first'))
    .option('--worker <id>', 'only jobs of this worker')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON (with the tail of each output)')
    .action((opts) =>
      guard(async () => {
        const query = new URLSearchParams({ limit: opts.limit });
        if (opts.worker) query.set('worker', opts.worker);
        if (opts.json) query.set('output', '1');
        const jobs = await api<JobView[]>(opts, 'GET', `/api/jobs?${query}`);
        if (opts.json) line(JSON.stringify(jobs, null, 2));
        else printJobs(jobs);
      }),
    );
}
