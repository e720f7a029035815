/**
 * "Tag each match": one `tag` task per resource a query finds, each given by the task dispatcher to
 * exactly one worker that can tag that resource (../../../../shared/seeds/resoto-worker.txt, "Tasks":
 * "a Resoto Worker that knows how to update AWS EC2 instance tags in that resource's account").
 *
 * The task's attributes say whose resource it is: `plugin` and `worker` (the collector), and the
 * resource's own `cloud`, `account`, `region`, `zone` and `host` attributes when it has them as text.
 * A plugin's handler filters on them (`fs`: `{plugin: [fs], worker: [me]}`; a cloud plugin:
 * `{plugin: [aws], account: [123]}`), and the dispatcher's most-specific-filter rule
 * (src/hub/tasks/task-selection.ts) picks one worker among those able to.
 *
 * With `waitMs` the call waits (bounded) for the tasks' outcomes, for a summary of what was done; a done
 * task's returned `tags` replace the stored resource's tags whenever it ends.
 */
import type { Clock } from '../../clock.ts';
import { ClaError, ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { parseResourceCommand, type TagCommand } from './resource-command.ts';
import type { ResourceQuery } from './resource-query.ts';
import type { ResourceStore, StoredResource } from './resource-store.ts';
import type { TaskSubmitter } from './workflow-engine.ts';

/** Most resources one tag change may touch; a query matching more is refused (narrow it). */
export const MAX_TAG_MATCHES = 1000;

/** Resource attributes copied into a tag task's attributes, for handlers to filter on. */
export const TAG_ROUTING_ATTRS = ['cloud', 'account', 'region', 'zone', 'host'] as const;

/** The change to make: tags to set and tag keys to remove. */
export interface TagChange {
  set: Record<string, string>;
  remove: string[];
}

/** What {@link tagResources} needs. */
export interface TaggingDeps {
  resources: Pick<ResourceStore, 'search' | 'setTags'>;
  tasks: TaskSubmitter | undefined;
  clock: Clock;
  log: Logger;
}

export interface TaggingOptions {
  /** How long each task may wait for a worker able to take it, in ms. */
  deadlineMs: number;
  /** How long to wait for the outcomes, in ms; 0 returns once submitted. @default 0 */
  waitMs?: number;
}

/** One task of a tag change. */
export interface TagOutcome {
  task: string;
  /** The resource. */
  id: string;
  kind: string;
  /** The worker and plugin that collected it. */
  worker: string;
  plugin: string;
  /** `waiting`: not ended within `waitMs` (or not waited for). */
  state: 'done' | 'failed' | 'waiting';
  /** The worker that ran (or holds) the task, when known. */
  by: string | null;
  /** The resource's tags after the change (done). */
  tags?: Record<string, string>;
  /** Why it failed. */
  error?: { code: string; message: string };
}

/** What a tag change did. */
export interface TagSummary {
  query: string;
  change: TagChange;
  matched: number;
  done: number;
  failed: number;
  waiting: number;
  tasks: TagOutcome[];
}

/** The attributes of the `tag` task of a resource (see the file comment). */
export function tagTaskAttrs(resource: Pick<StoredResource, 'plugin' | 'worker' | 'attrs'>): Record<string, string> {
  const attrs: Record<string, string> = { plugin: resource.plugin, worker: resource.worker };
  for (const key of TAG_ROUTING_ATTRS) {
    const value = resource.attrs[key];
    if (typeof value === 'string' && value !== '') attrs[key] = value;
  }
  return attrs;
}

/** `| tag update KEY VALUE` / `| tag delete KEY` as a change. */
export function tagChange(tag: TagCommand): TagChange {
  return tag.op === 'update' ? { set: { [tag.key]: tag.value }, remove: [] } : { set: {}, remove: [tag.key] };
}

/**
 * Submits a `tag` task for every resource `query` matches and, with `waitMs`, waits for their outcomes.
 * @throws ClaError `UNSUPPORTED` without a task dispatcher, `INVALID_ARGUMENT` when nothing (or more than
 *   {@link MAX_TAG_MATCHES}) matches.
 */
export async function tagResources(deps: TaggingDeps, query: ResourceQuery, queryText: string, change: TagChange, options: TaggingOptions): Promise<TagSummary> {
  const tasks = deps.tasks;
  if (!tasks) throw new ClaError(ErrorCode.Unsupported, 'This hub has no task dispatcher: tags cannot be changed');
  const matches = await deps.resources.search(query, MAX_TAG_MATCHES + 1);
  if (matches.length === 0) throw new ClaError(ErrorCode.InvalidArgument, `No resource matches \`${queryText}\`: nothing to tag (see \`cla-hub search '${queryText}'\`)`);
  if (matches.length > MAX_TAG_MATCHES) {
    throw new ClaError(ErrorCode.InvalidArgument, `\`${queryText}\` matches more than ${MAX_TAG_MATCHES} resources: narrow the query to tag them`, { data: { limit: MAX_TAG_MATCHES } });
  }
  const outcomes: Array<{ outcome: TagOutcome; end: Promise<void> | undefined }> = [];
  for (const r of matches) {
    const task = await tasks.submit({ name: 'tag', attrs: tagTaskAttrs(r), data: { id: r.id, kind: r.kind, set: change.set, remove: change.remove }, deadlineMs: options.deadlineMs });
    const outcome: TagOutcome = { task, id: r.id, kind: r.kind, worker: r.worker, plugin: r.plugin, state: 'waiting', by: null };
    const end = tasks.wait?.(task).then(
      async (row) => {
        outcome.by = row.worker ?? null;
        const tags = (row.result as { tags?: unknown } | null)?.tags;
        if (row.state === 'done') {
          outcome.state = 'done';
          if (tags && typeof tags === 'object') {
            outcome.tags = tags as Record<string, string>;
            await deps.resources.setTags(r.worker, r.plugin, r.id, outcome.tags);
          }
        } else {
          outcome.state = 'failed';
          outcome.error = row.error ? { code: row.error.code, message: row.error.message } : { code: ErrorCode.Internal, message: `the task ended ${row.state}` };
        }
      },
      (error: unknown) => deps.log.debug({ err: error, task }, 'tag task not awaited'),
    );
    outcomes.push({ outcome, end });
  }
  const waitMs = options.waitMs ?? 0;
  if (waitMs > 0) {
    let timer: unknown;
    const timeout = new Promise<void>((resolve) => (timer = deps.clock.setTimeout(() => resolve(), waitMs)));
    await Promise.race([Promise.all(outcomes.map((o) => o.end)), timeout]);
    deps.clock.clearTimeout(timer);
  }
  const list = outcomes.map((o) => ({ ...o.outcome }));
  const count = (state: TagOutcome['state']) => list.filter((o) => o.state === state).length;
  deps.log.info({ query: queryText, matched: list.length, done: count('done'), failed: count('failed') }, 'tag change submitted');
  return { query: queryText, change, matched: list.length, done: count('done'), failed: count('failed'), waiting: count('waiting'), tasks: list };
}

/**
 * A search line with `| tag ...` (resource-command.ts), run: the hub side of `cla-hub search` and
 * `cla-hub resources search` when they change tags. `--nowait` in the line means `waitMs` 0.
 * @throws InvalidArgumentError for a line without `| tag ...` (a plain search reads the store)
 */
export function runTagLine(deps: TaggingDeps, line: string, options: TaggingOptions): Promise<TagSummary> {
  const command = parseResourceCommand(line);
  if (!command.tag) throw new ClaError(ErrorCode.InvalidArgument, `\`${line}\` changes nothing: add \`| tag update KEY VALUE\` or \`| tag delete KEY\``);
  return tagResources(deps, command.query, command.queryText, tagChange(command.tag), { ...options, waitMs: command.tag.nowait ? 0 : options.waitMs });
}
