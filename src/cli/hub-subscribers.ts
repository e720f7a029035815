/**
 * `cla-hub subscribers`: what each connected worker subscribed to (actions and task handlers), as the
 * running hub knows it (src/hub/actions/subscriber-directory.ts), like Resoto Core's `/subscribers`.
 */
import type { Command } from 'commander';
import type { SubscriberView } from '../hub/actions/subscriber-directory.ts';
import { adminDataOption, withHub } from './hub-connect.ts';
import { table } from './hub-workflows.ts';
import { info, line } from './say.ts';

/** `collect(wait, 1h)`, `tag{plugin=ec2,account=111}`. */
function describe(view: SubscriberView): string[] {
  const actions = view.actions.map((a) => `${a.action}(${a.waitForCompletion ? 'wait' : 'no wait'}, ${Math.round(a.timeoutMs / 1000)} s)`);
  const tasks = view.tasks.map((t) => `${t.name}{${Object.entries(t.filter).map(([k, v]) => `${k}=${v.join('|')}`).join(',')}}`);
  const worker = view.disabled ? `${view.workerId} (disabled)` : view.workerId;
  return [worker, ...(view.hub === undefined ? [] : [view.hub]), view.subscriberId, actions.join(' ') || '-', tasks.join(' ') || '-', String(view.taskCapacity)];
}

/** Adds `cla-hub subscribers`. */
export function registerSubscriberCommands(program: Command): void {
  program
    .command('subscribers')
    .description('connected workers and what they subscribed to: actions (collect, plan_cleanup, cleanup, ...) and task handlers (tag, ...)')
    .option('--action <name>', 'only the subscribers of this action')
    .option('--json', 'print JSON')
    .addOption(adminDataOption())
    .action((opts) =>
      withHub(opts, async (client) => {
        const views = await client.call<SubscriberView[]>('subscribers.list', opts.action ? { action: opts.action } : {});
        if (opts.json) line(JSON.stringify(views, null, 2));
        else if (views.length === 0) info(opts.action ? `no connected worker subscribes to ${opts.action}` : 'no connected worker subscribed to anything');
        else {
          const hubs = views.some((v) => v.hub !== undefined) ? ['hub'] : [];
          table(['worker', ...hubs, 'subscriber', 'actions', 'tasks', 'task slots'], views.map(describe)).forEach((l) => line(l));
        }
      }),
    );
}
