/**
 * The hub's own methods: the hub's identity, projects and passkeys, environments, workers and jobs
 * (src/hub/management.ts). Extensions add theirs (tasks, workflows, resources) the same way.
 */
import { Observable, concatMap, startWith, throttleTime, asyncScheduler } from 'rxjs';
import { z } from 'zod';
import type { HubChange } from '../hub-change.ts';
import type { WorkerManagement } from '../management.ts';
import type { Registry } from '../registry.ts';
import { callMethod, watchMethod, type MethodDefinition } from './method-table.ts';

/** What the hub's own methods need. */
export interface AdminMethodsDeps {
  registry: Registry;
  management: WorkerManagement;
  changes$: Observable<HubChange>;
  /** The hub's id and listening URLs. */
  info(): { hubId: string; url: string | null; adminUrl: string | null };
}

const nameSchema = z.string().min(1).max(200);
const empty = z.object({}).strict();
const byName = z.object({ name: nameSchema }).strict();
const byId = z.object({ id: nameSchema }).strict();

/** Most worker lists a `workers.watch` sends per second. */
const WATCH_LISTS_PER_SECOND = 5;

/** The hub's own methods. */
export function adminMethods(deps: AdminMethodsDeps): MethodDefinition[] {
  const { registry, management } = deps;
  return [
    callMethod({ name: 'hub.info', summary: "The hub's id, version of the method table and listening URLs.", params: empty, readOnly: true, call: () => ({ ...deps.info(), api: 1 }) }),

    callMethod({ name: 'projects.list', summary: 'Projects with their worker counts (never their passkeys).', params: empty, readOnly: true, call: () => management.projects() }),
    callMethod({ name: 'projects.create', summary: 'Creates a project; answers its passkey.', params: byName, call: ({ name }) => registry.createProject(name) }),
    callMethod({ name: 'projects.passkey', summary: "A project's passkey (`null` when invalidated).", params: byName, readOnly: true, call: ({ name }) => management.passkey(name) }),
    callMethod({ name: 'projects.rotatePasskey', summary: "Replaces a project's passkey; registered workers are unaffected.", params: byName, call: ({ name }) => management.rotatePasskey(name) }),
    callMethod({ name: 'projects.invalidatePasskey', summary: "Removes a project's passkey: no registrations until rotated.", params: byName, call: ({ name }) => management.invalidatePasskey(name) }),

    callMethod({ name: 'envs.add', summary: 'Creates an environment workers may declare (names are case-sensitive).', params: byName, call: async ({ name }) => ({ name, created: await registry.addEnv(name) }) }),
    callMethod({ name: 'envs.list', summary: 'Environment names.', params: empty, readOnly: true, call: () => registry.listEnvs() }),

    callMethod({
      name: 'workers.list',
      summary: 'Workers with their live state; with `project`, only its members.',
      params: z.object({ project: nameSchema.optional() }).strict(),
      readOnly: true,
      call: ({ project }) => management.listWorkers(project),
    }),
    callMethod({ name: 'workers.show', summary: 'One worker with its recent jobs.', params: byId, readOnly: true, call: ({ id }) => management.workerDetail(id) }),
    callMethod({ name: 'workers.disable', summary: 'Stops sending new jobs to a worker (every project sharing it).', params: byId, call: ({ id }) => management.disable(id) }),
    callMethod({ name: 'workers.enable', summary: 'Lets a disabled worker take jobs again.', params: byId, call: ({ id }) => management.enable(id) }),
    callMethod({ name: 'workers.shutdown', summary: 'Makes a connected worker process exit.', params: byId, call: ({ id }) => management.shutdown(id) }),
    callMethod({
      name: 'workers.unregister',
      summary: 'Removes a worker from one project; its other projects keep it.',
      params: z.object({ id: nameSchema, project: nameSchema }).strict(),
      call: ({ id, project }) => management.unregisterFromProject(id, project),
    }),
    watchMethod({
      name: 'workers.watch',
      summary: 'The worker list now, then again after every change (at most 5 lists a second).',
      params: z.object({ project: nameSchema.optional() }).strict(),
      watch: ({ project }) =>
        deps.changes$.pipe(
          throttleTime(1000 / WATCH_LISTS_PER_SECOND, asyncScheduler, { leading: true, trailing: true }),
          startWith(undefined),
          concatMap(() => management.listWorkers(project)),
        ),
    }),

    callMethod({
      name: 'jobs.list',
      summary: 'Recent jobs, newest first; `output` adds the stored tail of each output.',
      params: z.object({ limit: z.number().int().min(1).max(10_000).default(50), worker: nameSchema.optional(), output: z.boolean().default(false) }).strict(),
      readOnly: true,
      call: ({ limit, worker, output }) => management.recentJobs(limit, worker, output),
    }),
  ];
}
