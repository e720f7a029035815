/**
 * `cla-hub workers ...`: worker management from the command line, through the hub's method table (the
 * same `workers.*` methods as the dashboard, see src/hub/management.ts). argv -> options -> calls; no
 * logic of its own.
 */
import readline from 'node:readline/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import { SHUTDOWN_WARNING, type JobView, type ManagedWorker, type ManageResult } from '../hub/management.ts';
import { adminDataOption, adminUrlOption, withHub } from './hub-connect.ts';
import { guard, info, line, success, warn } from './say.ts';

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
  const positive = (flag: string, raw: string) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`Expected \`${flag}\` to be a positive integer, got \`${raw}\``);
    return n;
  };

  withApi(workers.command('list').description('list workers: state, projects, tags, envs, origin, jobs, sharing'))
    .option('--project <name>', 'only workers of this project (shared workers show the other projects)')
    .option('--json', 'print JSON')
    .action((opts) =>
      withHub(opts, async (client) => {
        const rows = await client.call<ManagedWorker[]>('workers.list', opts.project ? { project: opts.project } : {});
        if (opts.json) line(JSON.stringify(rows, null, 2));
        else printWorkers(rows);
      }),
    );

  withApi(workers.command('show <id>').description("one worker and its recent jobs (with the tail of each job's output)"))
    .option('--json', 'print JSON')
    .action((id: string, opts) =>
      withHub(opts, async (client) => {
        const detail = await client.call<ManagedWorker & { recentJobs: JobView[] }>('workers.show', { id });
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
    withHub(opts, async (client) => printResult(await client.call<ManageResult>('workers.disable', { id }), 'disabled')),
  );

  withApi(workers.command('enable <id>').description('let a disabled worker take jobs again')).action((id: string, opts) =>
    withHub(opts, async (client) => printResult(await client.call<ManageResult>('workers.enable', { id }), 'enabled')),
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
        await withHub(opts, async (client) => {
          const result = await client.call<ManageResult>('workers.shutdown', { id });
          printResult({ ...result, warnings: result.warnings.filter((text) => opts.yes || text !== SHUTDOWN_WARNING) }, 'is shutting down');
        });
      }),
    );

  withApi(workers.command('unregister <id>').description('remove a worker from one project; its other projects keep it'))
    .requiredOption('--project <name>', 'the project to remove it from')
    .action((id: string, opts) =>
      withHub(opts, async (client) => {
        const result = await client.call<{ projects: string[]; deleted: boolean }>('workers.unregister', { id, project: opts.project });
        if (result.deleted) success(`worker ${id} unregistered from ${opts.project}; it had no other project and was removed`);
        else success(`worker ${id} unregistered from ${opts.project}; still in: ${result.projects.join(', ')}`);
      }),
    );

  withApi(workers.command('jobs').description('recent jobs, newest first'))
    .option('--worker <id>', 'only jobs of this worker')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON (with the tail of each output)')
    .action((opts) =>
      withHub(opts, async (client) => {
        const jobs = await client.call<JobView[]>('jobs.list', { limit: positive('--limit', opts.limit), ...(opts.worker ? { worker: opts.worker } : {}), output: opts.json === true });
        if (opts.json) line(JSON.stringify(jobs, null, 2));
        else printJobs(jobs);
      }),
    );
}
