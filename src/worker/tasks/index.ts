/** The worker's task handling: explicit exports, types apart. */
export { BUILTIN_TASK_HANDLERS, SHELL_TAIL_BYTES, builtinHandler, echoHandler, shellHandler } from './builtin-handlers.ts';
export { createTaskExtension } from './setup.ts';
export { DEFAULT_TASK_CONCURRENCY, TaskExtension, pickHandler } from './task-extension.ts';
export { parseTaskHandlerSpec, parseTaskOptions } from './task-options.ts';

export type { BuiltinHandlerOptions, BuiltinTaskHandler } from './builtin-handlers.ts';
export type { TaskExtensionOptions } from './task-extension.ts';
export type { TaskHandlerOption, WorkerTaskOptions } from './task-options.ts';
