/**
 * What a worker plugin is. A plugin module exports `plugin` (or `plugins`, a list): an object with a
 * name, a kind, and `create()`, which gets its configuration and returns what it handles.
 *
 * - A **collector** plugin answers `collect` with its resource graph (`collect()` yields resources),
 *   and usually `plan_cleanup` (`planCleanup()` returns the ids to flag) and `cleanup()`.
 * - An **action** plugin handles any actions (`actions`) and tasks (`tasks`), e.g. flagging, tagging or
 *   protecting resources.
 *
 * ```js
 * // plugins/hello.mjs (cla-worker run --plugins-dir plugins --plugin hello)
 * export const plugin = {
 *   name: 'hello',
 *   kind: 'action',
 *   create: ({ config }) => ({
 *     actions: { hello: async (ctx) => ctx.info('info', `hello ${config.get('who') ?? 'world'}`) },
 *   }),
 * };
 * ```
 */
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../logger.ts';
import type { Resource } from '../../protocol/frames-bus.ts';
import type { ActionContext, ActionHandler } from '../actions/action-extension.ts';
import type { TaskHandler } from '../subscriptions.ts';
import type { PluginConfig } from './plugin-config.ts';

export type PluginKind = 'collector' | 'action';

/** What `create()` gets. */
export interface PluginInit {
  /** This plugin's settings (`--override NAME.key=value`). */
  config: PluginConfig;
  workerId: string;
  clock: Clock;
  log: Logger;
}

/** `plan_cleanup` for a collector: the data of the step and the resources it last collected, if any. */
export interface PlanContext extends ActionContext {
  /** The graph this plugin sent in its last `collect` in this process, or null (it may collect again). */
  readonly lastGraph: readonly Resource[] | null;
}

/** `cleanup` for a collector: what the hub has flagged (null when it sent none: use your own plan). */
export interface CleanupContext extends ActionContext {
  readonly flagged: readonly string[] | null;
}

/** Settings of one action subscription. */
export interface SubscriptionSettings {
  /** @default true */
  waitForCompletion?: boolean;
  /** @default 3600000 (1 h) */
  timeoutMs?: number;
}

/** A task handler of a plugin. */
export interface PluginTaskHandler {
  name: string;
  /** Attribute -> accepted values (e.g. `{plugin: ['fs'], worker: ['w1']}`). */
  filter: Record<string, string[]>;
  handler: TaskHandler;
}

/** What a created plugin handles. Every member is optional. */
export interface PluginInstance {
  /** Collector: the resources of one `collect`. */
  collect?(ctx: ActionContext): AsyncIterable<Resource> | Iterable<Resource>;
  /** Collector: the ids to flag for cleanup (`desired.clean`). */
  planCleanup?(ctx: PlanContext): Promise<readonly string[]> | readonly string[];
  /** Collector: removes flagged resources, dependents first. */
  cleanup?(ctx: CleanupContext): Promise<void> | void;
  /** Any other action. */
  actions?: Record<string, ActionHandler>;
  tasks?: PluginTaskHandler[];
  /** Subscription settings by action name (collect, plan_cleanup, cleanup, or one of `actions`). */
  subscriptions?: Record<string, SubscriptionSettings>;
  /** The worker is stopping. */
  stop?(): Promise<void> | void;
}

/** A plugin as a module exports it. */
export interface WorkerPlugin {
  /** Lower-case letters, digits, `_` and `-`; the prefix of its `--override` keys. */
  name: string;
  kind: PluginKind;
  description?: string;
  /** Settings it accepts (`NAME.key`); others are refused. Omit to accept any. */
  configKeys?: readonly string[];
  create(init: PluginInit): PluginInstance | Promise<PluginInstance>;
}

/** Where a plugin was found. */
export interface DiscoveredPlugin {
  plugin: WorkerPlugin;
  /** `built-in`, a file of the plugins folder, or a package folder. */
  source: string;
  origin: 'builtin' | 'dir' | 'package';
}
