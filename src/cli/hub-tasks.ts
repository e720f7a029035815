/**
 * `cla-hub task submit | list | show`, through the running hub's `tasks.*` methods
 * (src/hub/tasks/task-methods.ts): `submit` hands the task to the dispatcher at once, `--wait` watches
 * its end (`tasks.wait`). `--data` is the task's JSON payload here (as in Resoto); the hub's data file,
 * to find a hub running on this host, is `--hub-data FILE` (or `CLA_HUB_DATA`).
 */
import { lastValueFrom } from 'rxjs';
import { Option, type Command } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import type { AdminClient } from '../hub/admin-client.ts';
import { showTaskValue } from '../hub/tasks/task-json.ts';
import { parseTaskSubmission } from '../hub/tasks/task-spec.ts';
import { TASK_STATES, type TaskView } from '../hub/tasks/task-store.ts';
import { formatAttrs } from '../../machines/task.helpers.ts';
import { withHub } from './hub-connect.ts';
import { parsePositiveSeconds } from './parse.ts';
import { line } from './say.ts';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
const hubDataOption = () => new Option('--hub-data <file>', "the hub's data file, to find the hub running on this host (env CLA_HUB_DATA)").default(undefined, './cla-hub.sqlite');

/** Adds the `task` commands to `cla-hub`. */
export function registerTaskCommands(program: Command): void {
  const task = program.command('task').description('submit tasks to the workers that handle them, and follow them');

  task
    .command('submit <name>')
    .description('submit a task; prints its id (with --wait, then its result)')
    .addOption(new Option('--attr <key=value>', 'an attribute handlers filter on, e.g. cloud=aws (repeatable)').argParser(collect))
    .option('--data <json>', 'the task data as JSON', 'null')
    .option('--deadline <seconds>', 'fail with NO_WORKER if no worker takes it within this time', '60')
    .option('--max-attempts <n>', 'lost claims (worker died) before it fails with WORKER_LOST', '5')
    .option('--wait', 'wait for the result: print it and exit 0 when done, 1 when failed')
    .addOption(hubDataOption())
    .action((name: string, opts) => withHub(opts, (client) => submit(client, name, opts)));

  task
    .command('list')
    .description('list tasks, newest first')
    .addOption(new Option('--state <state>', 'only tasks in this state').choices([...TASK_STATES]))
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'one JSON object per line')
    .addOption(hubDataOption())
    .action((opts) =>
      withHub(opts, async (client) => {
        const rows = await client.call<TaskView[]>('tasks.list', { ...(opts.state ? { state: opts.state } : {}), limit: positiveInt('--limit', opts.limit) });
        if (opts.json) for (const row of rows) line(showTaskValue(row));
        else for (const text of table(rows)) line(text);
      }),
    );

  task
    .command('show <id>')
    .description('show a task: state, attempts, worker, result or error, timestamps')
    .option('--json', 'as JSON')
    .addOption(hubDataOption())
    .action((id: string, opts) =>
      withHub(opts, async (client) => {
        const row = await client.call<TaskView>('tasks.show', { id });
        if (opts.json) line(showTaskValue(row, 2));
        else for (const text of details(row)) line(text);
      }),
    );
}

async function submit(client: AdminClient, name: string, opts: Record<string, unknown>): Promise<void> {
  const attrs: Record<string, string> = {};
  for (const entry of (opts.attr as string[] | undefined) ?? []) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`Expected \`--attr\` as key=value, got \`${entry}\``);
    attrs[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  let data: unknown;
  try {
    data = JSON.parse(String(opts.data));
  } catch (cause) {
    throw new InvalidArgumentError(`Expected \`--data\` to be JSON, got \`${String(opts.data)}\`: ${(cause as Error).message}`, { cause });
  }
  const deadlineMs = Math.round(parsePositiveSeconds('--deadline', String(opts.deadline)) * 1000);
  const task = parseTaskSubmission({ name, attrs, data, deadlineMs, maxAttempts: positiveInt('--max-attempts', String(opts.maxAttempts)) });
  // Checked here for its messages; sent as the value itself: the hub encodes it once into the msgpack
  // bytes it stores (\`task.data\` is those bytes already).
  const { id } = await client.call<{ id: string }>('tasks.submit', { ...task, data });
  line(id);
  if (!opts.wait) return;
  const row = await lastValueFrom(client.watch<TaskView>('tasks.wait', { id }));
  if (row.state === 'done') line(showTaskValue(row.result));
  else {
    process.stderr.write(`✖ ${row.error?.message ?? 'task failed'} [${row.error?.code ?? 'INTERNAL'}]\n`);
    process.exitCode = 1;
  }
}

function positiveInt(flag: string, raw: unknown): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`Expected \`${flag}\` to be a positive integer, got \`${String(raw)}\``);
  return n;
}

const time = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

function table(rows: TaskView[]): string[] {
  const head = ['ID', 'NAME', 'STATE', 'ATTEMPTS', 'WORKER', 'CREATED', 'ATTRS'];
  const cells = rows.map((r) => [r.id, r.name, r.state, String(r.attempts), r.worker ?? '-', time(r.createdAt), formatAttrs(r.attrs)]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  return [fmt(head), ...cells.map(fmt)];
}

function details(r: TaskView): string[] {
  const out = [
    `id:         ${r.id}`,
    `name:       ${r.name}`,
    `state:      ${r.state}`,
    `attrs:      ${formatAttrs(r.attrs)}`,
    `data:       ${showTaskValue(r.data)}`,
    `attempts:   ${r.attempts} (at most ${r.maxAttempts} lost claims)`,
    `worker:     ${r.worker ?? '-'}`,
    `created:    ${time(r.createdAt)}`,
    `deadline:   ${time(r.deadlineAt)} (${r.deadlineMs / 1000} s to find a worker)`,
    `pushed:     ${time(r.offeredAt)}`,
    `claimed:    ${time(r.claimedAt)}`,
    `finished:   ${time(r.finishedAt)}`,
  ];
  if (r.expiresAt !== null) out.push(`expires:    ${time(r.expiresAt)} (lease)`);
  if (r.state === 'done') out.push(`result:     ${showTaskValue(r.result)}`);
  if (r.error) out.push(`error:      ${r.error.message} [${r.error.code}]`);
  return out;
}
