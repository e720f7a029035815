/**
 * The task methods of the hub's method table: `tasks.submit` hands the task to the dispatcher at once
 * (no poll between a submission and its push), `tasks.wait` streams its final row.
 */
import { z } from 'zod';
import { plainValueSchema } from '../../protocol/frames-common.ts';
import { callMethod, watchMethod, type MethodDefinition } from '../methods/method-table.ts';
import type { TaskHub } from './task-hub.ts';
import { TASK_STATES } from './task-store.ts';

const id = z.string().min(1).max(200);

/** The task methods of one dispatcher. */
export function taskMethods(tasks: TaskHub): MethodDefinition[] {
  return [
    callMethod({
      name: 'tasks.submit',
      summary: 'Submits a task to the workers that handle it; answers its id.',
      params: z
        .object({
          name: z.string().min(1).max(200),
          attrs: z.record(z.string(), z.string()).default({}),
          data: plainValueSchema.default(null),
          deadlineMs: z.number().int().positive().optional(),
          maxAttempts: z.number().int().positive().optional(),
        })
        .strict(),
      call: async (params) => ({ id: await tasks.submit(params) }),
    }),
    callMethod({
      name: 'tasks.list',
      summary: 'Tasks, newest first.',
      params: z.object({ state: z.enum(TASK_STATES).optional(), limit: z.number().int().min(1).max(10_000).default(50) }).strict(),
      readOnly: true,
      call: ({ state, limit }) => tasks.list({ state, limit }),
    }),
    callMethod({ name: 'tasks.show', summary: 'One task: state, attempts, worker, result or error, timestamps.', params: z.object({ id }).strict(), readOnly: true, call: ({ id: task }) => tasks.show(task) }),
    watchMethod({
      name: 'tasks.wait',
      summary: "The task's final row (state `done` with `result`, or `failed` with `error`) once it ends.",
      params: z.object({ id }).strict(),
      watch: ({ id: task }) => tasks.result$(task),
    }),
  ];
}
