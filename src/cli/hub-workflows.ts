/**
 * `cla-hub workflow ...`: list, show, run, trigger by event, abort, and the definitions, all through the
 * running hub's `workflows.*` methods (src/hub/actions/workflow-methods.ts); `run --wait` watches the
 * run (`workflows.watch`) instead of polling. `definitions --workflows DIR` checks files offline.
 */
import { lastValueFrom, timeout as rxTimeout } from 'rxjs';
import { Option, type Command } from 'commander';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import { loadWorkflows, type WorkflowDefinition } from '../hub/actions/workflow-definitions.ts';
import type { TriggerResult } from '../hub/actions/workflow-engine.ts';
import type { RunDetail, RunRow } from '../hub/actions/workflow-store.ts';
import type { AdminClient } from '../hub/admin-client.ts';
import { adminDataOption, withHub } from './hub-connect.ts';
import { guard, info, line, success, warn } from './say.ts';
import { parsePositiveSeconds } from './parse.ts';

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

/** Watches the run until it ends; returns its final row. */
async function waitForRun(client: AdminClient, run: string, timeoutMs: number): Promise<RunRow> {
  try {
    const detail = await lastValueFrom(client.watch<RunDetail>('workflows.watch', { run }).pipe(rxTimeout({ first: timeoutMs, each: timeoutMs })));
    return detail.run;
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError') throw new ClaError(ErrorCode.Timeout, `Run ${run} did not end within ${Math.round(timeoutMs / 1000)} s (it goes on; \`cla-hub workflow show ${run}\` follows it)`);
    throw error;
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
      withHub(opts, async (client) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`Expected \`--limit\` to be a positive integer, got \`${opts.limit}\``);
        const runs = await client.call<RunRow[]>('workflows.list', { limit, ...(opts.workflow ? { workflow: opts.workflow } : {}) });
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
      withHub(opts, async (client) => {
        const detail = await client.call<RunDetail>('workflows.show', { run });
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
      withHub(opts, async (client) => {
        const timeoutMs = parsePositiveSeconds('--timeout', opts.timeout) * 1000;
        const result = await client.call<TriggerResult>('workflows.run', { workflow: name });
        reportTrigger(result);
        if (opts.wait && result.state !== 'skipped') {
          const end = await waitForRun(client, result.run, timeoutMs);
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
      withHub(opts, async (client) => {
        const results = await client.call<TriggerResult[]>('workflows.event', { event: name });
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
      withHub(opts, async (client) => {
        const result = await client.call<TriggerResult>('workflows.abort', { run, reason: opts.reason });
        success(`run ${result.run} of ${result.workflow}: ${result.state}`);
      }),
    );

  workflow
    .command('definitions')
    .description("the running hub's workflow definitions; with --workflows DIR, check a folder offline as `cla-hub start` would load it")
    .option('--workflows <dir>', 'check this folder of workflow definitions (YAML or JSON) locally instead of asking the hub')
    .option('--json', 'print JSON')
    .addOption(adminDataOption())
    .action((opts) => {
      const print = (workflows: WorkflowDefinition[], replaced: string[]) => {
        if (opts.json) {
          line(JSON.stringify(workflows, null, 2));
          return;
        }
        for (const name of replaced) warn(`${name}: the built-in definition is replaced by ${workflows.find((w) => w.name === name)!.source}`);
        const rows = workflows.map((w) => [
          w.name,
          w.steps.map((s) => `${s.name}(${Math.round(s.timeoutMs / 1000)}s,${s.onError})`).join(' -> '),
          w.triggers.map((t) => (t.kind === 'manual' ? 'manual' : t.kind === 'cron' ? `cron '${t.cron}'` : `event ${t.event}`)).join(', '),
          w.onConflict,
          w.source,
        ]);
        table(['name', 'steps', 'triggers', 'on_conflict', 'source'], rows).forEach((l) => line(l));
      };
      if (opts.workflows !== undefined) {
        return guard(() => {
          const { workflows, replaced } = loadWorkflows(opts.workflows);
          print([...workflows.values()], replaced);
        });
      }
      return withHub(opts, async (client) => print(await client.call<WorkflowDefinition[]>('workflows.definitions'), []));
    });
}
