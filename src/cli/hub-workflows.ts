/**
 * `cla-hub workflow ...`: list and show runs (read from the hub's data file), and run, trigger by
 * event or abort them (through the hub's command table, src/hub/actions/hub-commands.ts: the running
 * hub takes the command within its poll interval).
 */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { ClaError, ErrorCode } from '../errors.ts';
import { CommandTable, sendHubCommand, type HubCommand } from '../hub/actions/hub-commands.ts';
import { loadWorkflows } from '../hub/actions/workflow-definitions.ts';
import type { TriggerResult } from '../hub/actions/workflow-engine.ts';
import { WorkflowStore, type RunDetail, type RunRow } from '../hub/actions/workflow-store.ts';
import { resolveDataFile } from '../hub/hub-files.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { adminDataOption } from './hub-connect.ts';
import { guard, info, line, success, warn } from './say.ts';
import { parsePositiveSeconds } from './parse.ts';

function openDataFile(data: string | undefined): { store: ReturnType<typeof openSqliteStore>; dataFile: string } {
  const dataFile = resolveDataFile(data);
  if (!fs.existsSync(dataFile)) {
    throw new ClaError(ErrorCode.ConfigMissing, `No hub data file at ${dataFile}: pass --data pointing at the file of \`cla-hub start\` (or set CLA_HUB_DATA)`);
  }
  return { store: openSqliteStore(dataFile), dataFile };
}

/** Opens the hub's data file for one command. */
export function withDataFile<T>(data: string | undefined, action: (db: ReturnType<typeof openSqliteStore>['db'], dataFile: string) => T): T {
  const { store, dataFile } = openDataFile(data);
  try {
    return action(store.db, dataFile);
  } finally {
    store.close();
  }
}

/** Sends a command to the running hub and returns its result. */
export async function hubCommand(data: string | undefined, command: HubCommand, waitMs = 10_000): Promise<unknown> {
  const { store, dataFile } = openDataFile(data);
  try {
    return await sendHubCommand(new CommandTable(store.db), command, { waitMs, dataFile });
  } finally {
    store.close();
  }
}

const time = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));

/** Plain text table: a header and rows, columns padded. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)];
}

export function formatRuns(runs: RunRow[]): string[] {
  return table(
    ['id', 'workflow', 'state', 'trigger', 'started', 'finished'],
    runs.map((r) => [r.id, r.workflow, r.state, r.trigger, time(r.startedAt ?? r.createdAt), time(r.finishedAt)]),
  );
}

export function formatRun(detail: RunDetail): string[] {
  const { run, steps } = detail;
  const out = [
    `run ${run.id}`,
    `workflow  ${run.workflow}`,
    `state     ${run.state}${run.reason ? ` (${run.reason})` : ''}`,
    `trigger   ${run.trigger}`,
    `created   ${time(run.createdAt)}`,
    `started   ${time(run.startedAt)}`,
    `finished  ${time(run.finishedAt)}`,
  ];
  for (const step of steps) {
    out.push('', `step ${step.index + 1}: ${step.name} (action ${step.action})  ${step.state}  started ${time(step.startedAt)}  deadline ${time(step.deadline)}  finished ${time(step.finishedAt)}`);
    if (step.answers.length === 0) out.push('  no subscriber');
    else {
      const rows = step.answers.map((a) => [
        a.subscriber,
        a.wait ? 'yes' : 'no',
        a.status,
        time(a.sentAt),
        time(a.answeredAt),
        a.progress ? `${a.progress.current}/${a.progress.total}${a.progress.message ? ` ${a.progress.message}` : ''}` : '-',
        a.error ? `${a.error.code}: ${a.error.message}` : '',
      ]);
      out.push(...table(['subscriber', 'waited', 'status', 'sent', 'answered', 'progress', 'error'], rows).map((l) => `  ${l}`));
    }
    for (const m of step.messages) out.push(`  ${time(m.at)} ${m.subscriber} ${m.level}: ${m.message}`);
  }
  return out;
}

const isFinal = (state: string) => state !== 'pending' && state !== 'running';

/** Polls the store until the run ends; returns its final state. */
async function waitForRun(data: string | undefined, run: string, timeoutMs: number): Promise<RunRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = withDataFile(data, (db) => new WorkflowStore(db).getRun(run).run);
    if (isFinal(row.state)) return row;
    if (Date.now() > deadline) throw new ClaError(ErrorCode.Timeout, `Run ${run} is still ${row.state} after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function reportTrigger(result: TriggerResult): void {
  if (result.state === 'skipped') warn(`run ${result.run} of ${result.workflow} skipped: another run of it is active (on_conflict: skip)`);
  else if (result.state === 'pending') info(`run ${result.run} of ${result.workflow} is waiting for the active run to end (on_conflict: wait)`);
  else success(`run ${result.run} of ${result.workflow} started`);
}

/** Adds `cla-hub workflow ...`. */
export function registerWorkflowCommands(program: Command): void {
  const workflow = program.command('workflow').description('workflow runs: list, show, run, trigger events, abort');

  workflow
    .command('list')
    .description('list workflow runs, most recent first (id, workflow, state, started, finished)')
    .option('--workflow <name>', 'only runs of this workflow')
    .option('--limit <n>', 'at most this many runs', '50')
    .option('--json', 'print JSON')
    .addOption(adminDataOption())
    .action((opts) =>
      guard(() => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new ClaError(ErrorCode.InvalidArgument, `Expected \`--limit\` to be a positive integer, got \`${opts.limit}\``);
        const runs = withDataFile(opts.data, (db) => new WorkflowStore(db).listRuns(limit, opts.workflow));
        if (opts.json) line(JSON.stringify(runs, null, 2));
        else if (runs.length === 0) info('no workflow runs yet');
        else formatRuns(runs).forEach((l) => line(l));
      }),
    );

  workflow
    .command('show <run>')
    .description('show a run: each step, each subscriber, what it answered and when, its messages (run id or a unique prefix)')
    .option('--json', 'print JSON')
    .addOption(adminDataOption())
    .action((run: string, opts) =>
      guard(() => {
        const detail = withDataFile(opts.data, (db) => new WorkflowStore(db).getRun(run));
        if (opts.json) line(JSON.stringify(detail, null, 2));
        else formatRun(detail).forEach((l) => line(l));
      }),
    );

  workflow
    .command('run <name>')
    .description('start a run of a workflow on the running hub (its `manual` trigger)')
    .option('--wait', 'wait for the run to end; exit 1 unless it succeeded')
    .addOption(new Option('--timeout <seconds>', 'with --wait: give up after this long').default('3600'))
    .addOption(adminDataOption())
    .action((name: string, opts) =>
      guard(async () => {
        const result = (await hubCommand(opts.data, { kind: 'workflow.run', args: { workflow: name } })) as TriggerResult;
        reportTrigger(result);
        if (opts.wait && result.state !== 'skipped') {
          const end = await waitForRun(opts.data, result.run, parsePositiveSeconds('--timeout', opts.timeout) * 1000);
          (end.state === 'succeeded' ? success : warn)(`run ${end.id} ${end.state}${end.reason ? ` (${end.reason})` : ''}`);
          if (end.state !== 'succeeded') process.exitCode = 1;
        }
      }),
    );

  workflow
    .command('event <name>')
    .description('emit an event on the running hub: every workflow with `event: NAME` among its triggers starts')
    .addOption(adminDataOption())
    .action((name: string, opts) =>
      guard(async () => {
        const results = (await hubCommand(opts.data, { kind: 'workflow.event', args: { event: name } })) as TriggerResult[];
        if (results.length === 0) warn(`no workflow has an \`event: ${name}\` trigger`);
        results.forEach(reportTrigger);
      }),
    );

  workflow
    .command('abort <run>')
    .description('abort an active run: its subscribers get `abort` and the run ends aborted')
    .option('--reason <text>', 'why', 'aborted by an admin')
    .addOption(adminDataOption())
    .action((run: string, opts) =>
      guard(async () => {
        const result = (await hubCommand(opts.data, { kind: 'workflow.abort', args: { run, reason: opts.reason } })) as TriggerResult;
        success(`run ${result.run} of ${result.workflow}: ${result.state}`);
      }),
    );

  workflow
    .command('definitions')
    .description('check and list the workflow definitions (built in, and --workflows DIR as `cla-hub start` would load them)')
    .option('--workflows <dir>', 'a folder of workflow definitions (YAML or JSON)')
    .option('--json', 'print JSON')
    .action((opts) =>
      guard(() => {
        const { workflows, replaced } = loadWorkflows(opts.workflows);
        if (opts.json) {
          line(JSON.stringify([...workflows.values()], null, 2));
          return;
        }
        for (const name of replaced) warn(`${name}: the built-in definition is replaced by ${workflows.get(name)!.source}`);
        const rows = [...workflows.values()].map((w) => [
          w.name,
          w.steps.map((s) => `${s.name}(${Math.round(s.timeoutMs / 1000)}s,${s.onError})`).join(' -> '),
          w.triggers.map((t) => (t.kind === 'manual' ? 'manual' : t.kind === 'cron' ? `cron '${t.cron}'` : `event ${t.event}`)).join(', '),
          w.onConflict,
          w.source,
        ]);
        table(['name', 'steps', 'triggers', 'on_conflict', 'source'], rows).forEach((l) => line(l));
      }),
    );
}
