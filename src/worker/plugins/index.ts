/** Worker plugins: explicit exports, types apart. */
export { cleanupOrder } from './cleanup-order.ts';
export { FS_CONFIG_KEYS, FsCollector, fsPlugin, isFlagged, parseFsOptions, walkRoot } from './fs-plugin.ts';
export { globToRegExp, parseNamePattern } from './fs-match.ts';
export { forgetTags, readTags, TAGS_FILE, updateTags, writeTags } from './fs-tags.ts';
export { PluginConfig, pluginSettings } from './plugin-config.ts';
export { startPlugins, stopPlugins } from './plugin-host.ts';
export { BUILTIN_PLUGINS, checkPlugin, discoverDir, discoverPackages, discoverPlugins, importPlugins, nodeModulesDirs, packageEntry, selectPlugins } from './plugin-loader.ts';
export { createPluginWorker } from './setup.ts';

export type { GraphNode } from './cleanup-order.ts';
export type { FsKind, FsOptions } from './fs-plugin.ts';
export type { NameMatcher } from './fs-match.ts';
export type { TagMap } from './fs-tags.ts';
export type { PluginHostDeps, StartedPlugin, TaskHandlers } from './plugin-host.ts';
export type { PluginWorker, PluginWorkerOptions } from './setup.ts';
export type {
  CleanupContext,
  DiscoveredPlugin,
  PlanContext,
  PluginInit,
  PluginInstance,
  PluginKind,
  PluginTaskHandler,
  SubscriptionSettings,
  WorkerPlugin,
} from './plugin.ts';
