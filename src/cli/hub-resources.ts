/**
 * `cla-hub resources ...`: search the collected graphs with the small query language of
 * src/hub/actions/resource-query.ts (evaluated on the hub: `resources.search`), and change tags
 * (`resources.tag`: a `tag` task per resource, run by the worker that collected it).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import { parseResourceQuery } from '../hub/actions/resource-query.ts';
import type { StoredResource } from '../hub/actions/resource-store.ts';
import { adminDataOption, withHub } from './hub-connect.ts';
import { table } from './hub-workflows.ts';
import { info, line, success } from './say.ts';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function formatResources(resources: StoredResource[]): string[] {
  const show = (v: unknown) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  return table(
    ['worker', 'plugin', 'kind', 'clean', 'size', 'age_s', 'tags', 'id'],
    resources.map((r) => [
      r.worker,
      r.plugin,
      r.kind,
      r.clean ? 'yes' : '',
      show(r.attrs.size),
      show(r.attrs.age_s),
      Object.entries(r.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      r.id,
    ]),
  );
}

/** A query starts with a key and an operator (`kind = file`, `tags.owner=x`); anything else (a path) is an id. */
export function selectorQuery(selector: string): string {
  return /^\s*[A-Za-z_][\w.]*\s*(=|!=|~|!~|<|<=|>|>=)/.test(selector) ? selector : `id = '${selector.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `owner=lukas` pairs. */
export function parseTagPairs(pairs: string[]): Record<string, string> {
  const set: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`Expected tags as key=value, got \`${pair}\``);
    set[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return set;
}

/** Adds `cla-hub resources ...`. */
export function registerResourceCommands(program: Command): void {
  const resources = program.command('resources').description('collected resources: search them, change their tags');

  resources
    .command('search [query...]')
    .description("search the latest graphs: `key = value`, `key ~ regex`, `key > n` joined with `and`, e.g. 'kind = file and tags.owner = lukas' or 'clean = true'")
    .option('--json', 'print JSON')
    .option('--limit <n>', 'at most this many resources', '1000')
    .addOption(adminDataOption())
    .action((words: string[], opts) =>
      withHub(opts, async (client) => {
        const query = words.join(' ');
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`Expected \`--limit\` to be a positive integer, got \`${opts.limit}\``);
        const found = await client.call<StoredResource[]>('resources.search', { query, limit });
        if (opts.json) line(JSON.stringify(found, null, 2));
        else if (found.length === 0) info('no resource matches');
        else formatResources(found).forEach((l) => line(l));
      }),
    );

  resources
    .command('summary')
    .description('resources and flagged resources per worker and plugin')
    .option('--json', 'print JSON')
    .addOption(adminDataOption())
    .action((opts) =>
      withHub(opts, async (client) => {
        const counts = await client.call<Array<{ worker: string; plugin: string; resources: number; flagged: number; collectedAt: number }>>('resources.summary');
        if (opts.json) line(JSON.stringify(counts, null, 2));
        else if (counts.length === 0) info('no resources collected yet');
        else
          table(
            ['worker', 'plugin', 'resources', 'flagged', 'collected'],
            counts.map((c) => [c.worker, c.plugin, String(c.resources), String(c.flagged), new Date(c.collectedAt).toISOString()]),
          ).forEach((l) => line(l));
      }),
    );

  resources
    .command('tag <selector> [tags...]')
    .description("set tags (key=value) on a resource (its id, or a query such as 'path ~ \\.log$'): a `tag` task to the worker that collected it")
    .addOption(adminDataOption())
    .option('--remove <key>', 'remove this tag (repeatable)', collect)
    .action((selector: string, pairs: string[], opts) =>
      withHub(opts, async (client) => {
        const set = parseTagPairs(pairs);
        const remove: string[] = opts.remove ?? [];
        if (Object.keys(set).length === 0 && remove.length === 0) throw new InvalidArgumentError('Nothing to change: give key=value tags or --remove KEY');
        const query = selectorQuery(selector);
        parseResourceQuery(query);
        const tasks = await client.call<Array<{ task: string; worker: string; plugin: string; id: string }>>('resources.tag', { query, set, remove });
        for (const t of tasks) success(`task ${t.task}: tag ${t.id} on worker ${t.worker} (${t.plugin})`);
      }),
    );
}
