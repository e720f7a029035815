/**
 * `cla-hub resources ...`: search the collected graphs with the small query language of
 * src/hub/actions/resource-query.ts (evaluated on the hub: `resources.search`), and change tags
 * (`resources.tag`: a `tag` task per resource, run by the worker that collected it).
 * `cla-hub search` is `resources search`, which also takes Resoto's `QUERY | tag update KEY VALUE` and
 * `QUERY | tag delete KEY` (src/hub/actions/resource-command.ts; the hub runs them, resource-tagging.ts).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import { parseResourceCommand } from '../hub/actions/resource-command.ts';
import { parseResourceQuery } from '../hub/actions/resource-query.ts';
import type { StoredResource } from '../hub/actions/resource-store.ts';
import type { TagSummary } from '../hub/actions/resource-tagging.ts';
import { adminDataOption, withHub } from './hub-connect.ts';
import { table } from './hub-workflows.ts';
import { parsePositiveSeconds } from './parse.ts';
import { fail, info, line, success, warn } from './say.ts';

/** Longest `--wait` of a tag change (the call stays open that long; `--nowait` and `task show` for longer). */
const MAX_TAG_WAIT_S = 600;

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

/** Prints what a tag change did; exit 1 when a task failed or is still waiting (unless --nowait). */
function reportTagSummary(summary: TagSummary, nowait: boolean): void {
  const what = [...Object.entries(summary.change.set).map(([k, v]) => `${k}=${v}`), ...summary.change.remove.map((k) => `-${k}`)].join(' ');
  for (const t of summary.tasks) {
    const where = `${t.id} (${t.kind}, collected by ${t.worker}/${t.plugin})`;
    if (t.state === 'done') success(`task ${t.task}: ${where} tagged by ${t.by ?? '?'}${t.tags ? `; tags now ${Object.entries(t.tags).map(([k, v]) => `${k}=${v}`).join(',') || '-'}` : ''}`);
    else if (t.state === 'failed') fail(`task ${t.task}: ${where} failed${t.by ? ` on ${t.by}` : ''}: ${t.error?.message} [${t.error?.code}]`);
    else (nowait ? info : warn)(`task ${t.task}: ${where} ${nowait ? 'submitted' : 'not finished yet'}; follow it with \`cla-hub task show ${t.task}\``);
  }
  const counts = nowait ? `${summary.waiting} task(s) submitted` : `${summary.done} done, ${summary.failed} failed, ${summary.waiting} still waiting`;
  line(`tag ${what}: ${summary.matched} resource(s) matched \`${summary.query}\`; ${counts}`);
  if (summary.failed > 0 || (!nowait && summary.waiting > 0)) process.exitCode = 1;
}

/** `search` / `resources search`: `resources.search`, or `resources.tagLine` for a `| tag ...` line. */
function searchCommand(command: Command): Command {
  return command
    .option('--json', 'print JSON')
    .option('--limit <n>', 'at most this many resources (plain search)', '1000')
    .option('--wait <seconds>', `with | tag: how long to wait for the tag tasks' outcome (at most ${MAX_TAG_WAIT_S})`, '30')
    .option('--nowait', 'with | tag: return once the tasks are submitted (as `tag update --nowait`)')
    .addOption(adminDataOption())
    .action((words: string[], opts) =>
      withHub(opts, async (client) => {
        const text = words.join(' ');
        const parsed = parseResourceCommand(text);
        if (parsed.tag) {
          const waitS = parsePositiveSeconds('--wait', opts.wait);
          if (waitS > MAX_TAG_WAIT_S) throw new InvalidArgumentError(`Expected \`--wait\` to be at most ${MAX_TAG_WAIT_S} seconds, got \`${opts.wait}\`: use --nowait and \`cla-hub task show ID\` for longer`);
          const nowait = Boolean(opts.nowait) || parsed.tag.nowait;
          const summary = await client.call<TagSummary>('resources.tagLine', { line: text, waitMs: nowait ? 0 : Math.round(waitS * 1000) });
          if (opts.json) line(JSON.stringify(summary, null, 2));
          else reportTagSummary(summary, nowait);
          if (opts.json && summary.failed > 0) process.exitCode = 1;
          return;
        }
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`Expected \`--limit\` to be a positive integer, got \`${opts.limit}\``);
        const found = await client.call<StoredResource[]>('resources.search', { query: parsed.queryText, limit });
        if (opts.json) line(JSON.stringify(found, null, 2));
        else if (found.length === 0) info('no resource matches');
        else formatResources(found).forEach((l) => line(l));
      }),
    );
}

const SEARCH_HELP =
  "search the latest graphs: `key = value`, `key ~ regex`, `key > n` joined with `and` (dotted paths: tags.owner, desired.clean, reported.placement.zone), e.g. 'kind = file and tags.owner = lukas'; add `| tag update KEY VALUE` or `| tag delete KEY` to change the tags of every match";

/** Adds `cla-hub resources ...` and `cla-hub search`. */
export function registerResourceCommands(program: Command): void {
  searchCommand(program.command('search [query...]').description(`${SEARCH_HELP} (the same as \`resources search\`)`));
  const resources = program.command('resources').description('collected resources: search them, change their tags');

  searchCommand(resources.command('search [query...]').description(SEARCH_HELP));

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
