/**
 * Builds the worker's task extension from its options: one place that `cla-worker run` (and tests or
 * embedders) call, so the CLI only wires.
 */
import type { SubscriptionRegistry } from '../subscriptions.ts';
import { builtinHandler, type BuiltinHandlerOptions } from './builtin-handlers.ts';
import { TaskExtension } from './task-extension.ts';
import type { WorkerTaskOptions } from './task-options.ts';

/** A {@link TaskExtension} on `registry` with the configured built-in handlers registered. */
export function createTaskExtension(registry: SubscriptionRegistry, options: WorkerTaskOptions, builtins: BuiltinHandlerOptions = {}): TaskExtension {
  const extension = new TaskExtension(registry, { concurrency: options.concurrency, prefetch: options.prefetch });
  for (const { name, filter } of options.handlers) extension.handle(name, filter, builtinHandler(name, builtins));
  return extension;
}
