/**
 * The methods of workflows and resources (issue 8: the CLI, the dashboard and scripts call these on the
 * running hub instead of reading its data file or queueing commands in it).
 */
import { concatMap, defer, filter, startWith, switchMap, takeWhile } from 'rxjs';
import { z } from 'zod';
import { callMethod, watchMethod, type MethodDefinition } from '../methods/method-table.ts';
import { parseResourceQuery } from './resource-query.ts';
import type { ResourceStore, StoredResource } from './resource-store.ts';
import { runTagLine } from './resource-tagging.ts';
import type { SubscriberView } from './subscriber-directory.ts';
import type { WorkflowEngine } from './workflow-engine.ts';
import type { RunDetail, WorkflowStore } from './workflow-store.ts';

/** What these methods need. */
export interface WorkflowMethodsDeps {
  engine: WorkflowEngine;
  store: WorkflowStore;
  resources: ResourceStore;
  /** `cla-hub subscribers` (every hub's, when several share an engine). */
  subscribers: (action?: string) => SubscriberView[];
}

/**
 * Evaluates a resource search on the hub. One function, so a richer query language (pipes, dotted
 * paths: issue 15) replaces it in one place.
 */
export function searchResources(resources: ResourceStore, query: string, limit: number): Promise<StoredResource[]> {
  return resources.search(parseResourceQuery(query), limit);
}

const name = z.string().min(1).max(200);
const isFinal = (state: string) => state !== 'pending' && state !== 'running';

/** The workflow and resource methods. */
export function workflowMethods({ engine, store, resources, subscribers }: WorkflowMethodsDeps): MethodDefinition[] {
  return [
    callMethod({ name: 'workflows.run', summary: 'Starts a run of a workflow (its `manual` trigger).', params: z.object({ workflow: name }).strict(), call: ({ workflow }) => engine.runManual(workflow) }),
    callMethod({
      name: 'workflows.event',
      summary: 'Emits an event: every workflow with `event: NAME` among its triggers starts.',
      params: z.object({ event: name }).strict(),
      call: ({ event }) => engine.emitEvent(event),
    }),
    callMethod({
      name: 'workflows.abort',
      summary: 'Aborts an active run (id or a unique prefix).',
      params: z.object({ run: name, reason: z.string().max(1000).optional() }).strict(),
      call: ({ run, reason }) => engine.abort(run, reason),
    }),
    callMethod({
      name: 'workflows.list',
      summary: 'Workflow runs, most recent first.',
      params: z.object({ limit: z.number().int().min(1).max(10_000).default(50), workflow: name.optional() }).strict(),
      readOnly: true,
      call: ({ limit, workflow }) => store.listRuns(limit, workflow),
    }),
    callMethod({
      name: 'workflows.show',
      summary: 'One run with its steps, subscribers, answers and messages (id or a unique prefix).',
      params: z.object({ run: name }).strict(),
      readOnly: true,
      call: ({ run }) => store.getRun(run),
    }),
    callMethod({
      name: 'workflows.definitions',
      summary: 'The workflow definitions this hub runs (built in and --workflows).',
      params: z.object({}).strict(),
      readOnly: true,
      call: () => [...engine.workflows.values()],
    }),
    watchMethod({
      name: 'workflows.watch',
      summary: "A run's detail now and after each step change; ends once the run has ended.",
      params: z.object({ run: name }).strict(),
      watch: ({ run }) =>
        defer(() => store.resolveRunId(run)).pipe(
          switchMap((id) =>
            engine.runChanged$.pipe(
              filter((changed) => changed === id),
              startWith(id),
              // In order: each change is read after the writes issued before it.
              concatMap((): Promise<RunDetail> => store.getRun(id)),
            ),
          ),
          takeWhile((detail) => !isFinal(detail.run.state), true),
        ),
    }),

    callMethod({
      name: 'resources.search',
      summary: "Searches the latest collected graphs: `key = value`, `key ~ regex`, `key > n` joined with `and`.",
      params: z.object({ query: z.string().max(10_000).default(''), limit: z.number().int().min(1).max(100_000).default(1000) }).strict(),
      readOnly: true,
      call: ({ query, limit }) => searchResources(resources, query, limit),
    }),
    callMethod({ name: 'resources.summary', summary: 'Resources and flagged resources per worker and plugin.', params: z.object({}).strict(), readOnly: true, call: () => resources.counts() }),
    callMethod({
      name: 'resources.tag',
      summary: 'Sets or removes tags of the resources a query selects: a `tag` task per resource, to the worker that collected it.',
      params: z
        .object({ query: z.string().min(1).max(10_000), set: z.record(z.string().min(1).max(200), z.string().max(10_000)).default({}), remove: z.array(z.string().min(1).max(200)).max(1000).default([]) })
        .strict(),
      call: ({ query, set, remove }) => engine.tag(query, set, remove),
    }),
    callMethod({
      name: 'resources.tagLine',
      summary: "Runs a Resoto search line `QUERY | tag update KEY VALUE` or `QUERY | tag delete KEY`; answers what each tag task did (waits up to `waitMs`).",
      params: z.object({ line: z.string().min(1).max(10_000), waitMs: z.number().int().min(0).max(600_000).default(30_000) }).strict(),
      call: ({ line, waitMs }) => runTagLine(engine.taggingDeps(), line, { deadlineMs: engine.tagDeadlineMs, waitMs }),
    }),
    callMethod({
      name: 'subscribers.list',
      summary: 'Connected workers and what they subscribed to (actions, task handlers); with `action`, only its subscribers.',
      params: z.object({ action: name.optional() }).strict(),
      readOnly: true,
      call: ({ action }) => subscribers(action),
    }),
  ];
}
