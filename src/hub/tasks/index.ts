/**
 * The hub's task feature: submit tasks, wait for their results, and the dispatcher that pushes each task
 * to exactly one matching worker under a lease. Explicit exports; types apart.
 *
 *   const tasks = new TaskHub({ store: openSqliteTaskStore(dataFile), ownsStore: true });   // any TaskStore
 *   const hub = new Hub(options, { registry, extensions: [tasks] });
 *   const id = await tasks.submit({ name: 'tag', attrs: { cloud: 'aws', account: '123' }, data: { ... } });
 *   const row = await tasks.wait(id);                // row.state 'done' (row.result) or 'failed' (row.error)
 *
 * A task's data and result are msgpack bytes in the stores and on the wire (`TaskRow`); the API above
 * hands out `TaskView`s, decoded.
 */
export { TaskHub } from './task-hub.ts';
export { taskMethods } from './task-methods.ts';
export { SqliteTaskStore, openSqliteTaskStore } from './sqlite-task-store.ts';
export { MemoryTaskStore, MemoryTaskTables } from './memory-task-store.ts';
export { selectWorker } from './task-selection.ts';
export { DEFAULT_TASK_DEADLINE_MS, DEFAULT_TASK_MAX_ATTEMPTS, MAX_TASK_DATA_BYTES, parseTaskHubOptions, parseTaskSubmission } from './task-spec.ts';
export { DEFAULT_HUB_ID, TASK_STATES, viewTask } from './task-store.ts';
export { decodeTaskValue, encodeTaskValue, showTaskValue } from './task-json.ts';

export type { TaskHubDeps } from './task-hub.ts';
export type { Selection, TaskCandidate } from './task-selection.ts';
export type { ParsedTaskHubOptions, ParsedTaskSubmission, TaskHubOptions, TaskSubmission } from './task-spec.ts';
export type { Expired, NewTask, ReleasedTask, TaskErrorValue, TaskListFilter, TaskRow, TaskState, TaskStore, TaskStoreOptions, TaskView } from './task-store.ts';
