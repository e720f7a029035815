/**
 * Finds plugins: built-in ones (`fs`), files of a plugins folder (`--plugins-dir DIR`: every `.js`,
 * `.mjs`, `.cjs`, `.ts`, `.mts` file exporting `plugin` or `plugins`), and installed packages named
 * `cla-worker-plugin-*` (or `@scope/cla-worker-plugin-*`) in the `node_modules` folders from the
 * working directory up, and beside this package.
 *
 * Which ones run (see {@link selectPlugins}): those named with `--plugin NAME`, those configured with a
 * `NAME.key` override, and, when no `--plugin` is given, every plugin found in the folder or installed
 * as a package (installing one is opting in). A built-in plugin runs only when named or configured, so
 * a plain worker subscribes to no action.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isSea } from 'node:sea';
import vm from 'node:vm';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ClaError, describeValue, ErrorCode, InvalidArgumentError } from '../../errors.ts';
import { fsPlugin } from './fs-plugin.ts';
import type { DiscoveredPlugin, WorkerPlugin } from './plugin.ts';

export const BUILTIN_PLUGINS: readonly WorkerPlugin[] = [fsPlugin];

const PLUGIN_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const PLUGIN_FILE = /\.(m?js|cjs|m?ts)$/;
const PACKAGE_PREFIX = 'cla-worker-plugin-';

/** Checks that a module export is a plugin; the error names where it came from. */
export function checkPlugin(value: unknown, source: string): WorkerPlugin {
  const p = value as Partial<WorkerPlugin> | null;
  const bad = (what: string, got: unknown) => new InvalidArgumentError(`${source}: the plugin's \`${what}\` is not valid, got ${describeValue(got)}`, { data: { source, key: what } });
  if (p === null || typeof p !== 'object') throw new InvalidArgumentError(`${source}: \`plugin\` must be an object, got ${describeValue(p)}`, { data: { source } });
  if (typeof p.name !== 'string' || !PLUGIN_NAME.test(p.name)) throw bad('name', p.name);
  if (p.kind !== 'collector' && p.kind !== 'action') throw bad('kind', p.kind);
  if (typeof p.create !== 'function') throw bad('create', p.create);
  if (p.configKeys !== undefined && (!Array.isArray(p.configKeys) || p.configKeys.some((k) => typeof k !== 'string'))) throw bad('configKeys', p.configKeys);
  return p as WorkerPlugin;
}

/** The plugins a module exports (`plugin`, `plugins`, or a default export holding either). */
export async function importPlugins(file: string, source = file): Promise<WorkerPlugin[]> {
  let module: Record<string, unknown>;
  try {
    module = (await importModule(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ClaError(ErrorCode.InvalidArgument, `${source}: the plugin module failed to load: ${(error as Error).message}`, { cause: error, data: { source } });
  }
  const holder = (module.plugin === undefined && module.plugins === undefined && module.default && typeof module.default === 'object' ? module.default : module) as Record<string, unknown>;
  const found = holder.plugins !== undefined ? holder.plugins : holder.plugin !== undefined ? [holder.plugin] : undefined;
  if (!Array.isArray(found) || found.length === 0) {
    throw new InvalidArgumentError(`${source}: exports no \`plugin\` (or \`plugins\`)`, { data: { source } });
  }
  return found.map((p) => checkPlugin(p, source));
}

/** Plugins of the files of a folder, in name order. */
export async function discoverDir(dir: string): Promise<DiscoveredPlugin[]> {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((f) => PLUGIN_FILE.test(f) && !f.endsWith('.d.ts') && !f.endsWith('.d.mts')).sort();
  } catch (error) {
    throw new ClaError(ErrorCode.InvalidArgument, `--plugins-dir ${dir} cannot be read: ${(error as Error).message}`);
  }
  const out: DiscoveredPlugin[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    for (const plugin of await importPlugins(file)) out.push({ plugin, source: file, origin: 'dir' });
  }
  return out;
}

/** The entry file of an installed package (its `exports` `.`, `module`, `main`, or index.js). */
export function packageEntry(packageDir: string): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
    exports?: unknown;
    module?: string;
    main?: string;
  };
  const pick = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value;
    if (value && typeof value === 'object') {
      const v = value as Record<string, unknown>;
      return pick(v['.']) ?? pick(v.import) ?? pick(v.node) ?? pick(v.default) ?? pick(v.require);
    }
    return undefined;
  };
  return path.join(packageDir, pick(manifest.exports) ?? manifest.module ?? manifest.main ?? 'index.js');
}

/** `node_modules` folders from `cwd` up to the filesystem root, then this package's own. */
export function nodeModulesDirs(cwd: string): string[] {
  const dirs: string[] = [];
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    dirs.push(path.join(dir, 'node_modules'));
    if (path.dirname(dir) === dir) break;
  }
  const own = ownNodeModules();
  if (own !== undefined && !dirs.includes(own)) dirs.push(own);
  return dirs.filter((d) => fs.existsSync(d));
}

/**
 * `import()` from the default ESM loader. In a single executable the bundled entry's own `import()` only
 * reaches built-in modules; a function compiled with `USE_MAIN_CONTEXT_DEFAULT_LOADER` loads files.
 */
const importModule: (specifier: string) => Promise<unknown> = isSea()
  ? new vm.Script('(specifier) => import(specifier)', { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER }).runInThisContext()
  : (specifier) => import(specifier);

/** This package's `node_modules`: beside the nearest package.json above this file (src/ or dist/src/). */
function ownNodeModules(): string | undefined {
  if (isSea()) return undefined; // a single-file build has no node_modules of its own
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'node_modules');
  }
  return undefined;
}

/** Installed `cla-worker-plugin-*` packages (the first found of each name wins, as Node resolves). */
export async function discoverPackages(dirs: readonly string[]): Promise<DiscoveredPlugin[]> {
  const seen = new Set<string>();
  const out: DiscoveredPlugin[] = [];
  for (const dir of dirs) {
    const candidates: string[] = [];
    for (const name of fs.readdirSync(dir).sort()) {
      if (name.startsWith(PACKAGE_PREFIX)) candidates.push(name);
      else if (name.startsWith('@')) {
        try {
          for (const inner of fs.readdirSync(path.join(dir, name)).sort()) if (inner.startsWith(PACKAGE_PREFIX)) candidates.push(`${name}/${inner}`);
        } catch {
          // not a folder
        }
      }
    }
    for (const name of candidates) {
      if (seen.has(name)) continue;
      seen.add(name);
      const packageDir = path.join(dir, name);
      for (const plugin of await importPlugins(packageEntry(packageDir), `package ${name}`)) out.push({ plugin, source: packageDir, origin: 'package' });
    }
  }
  return out;
}

/** Every plugin found; a name found twice is an error naming both places. */
export async function discoverPlugins(options: { pluginsDir?: string; cwd?: string; packages?: boolean } = {}): Promise<DiscoveredPlugin[]> {
  const all: DiscoveredPlugin[] = BUILTIN_PLUGINS.map((plugin) => ({ plugin, source: 'built-in', origin: 'builtin' as const }));
  if (options.pluginsDir) all.push(...(await discoverDir(options.pluginsDir)));
  if (options.packages !== false) all.push(...(await discoverPackages(nodeModulesDirs(options.cwd ?? process.cwd()))));
  const byName = new Map<string, DiscoveredPlugin>();
  for (const found of all) {
    const earlier = byName.get(found.plugin.name);
    if (earlier) throw new InvalidArgumentError(`Two plugins are named ${found.plugin.name}: ${earlier.source} and ${found.source}`, { data: { plugin: found.plugin.name } });
    byName.set(found.plugin.name, found);
  }
  return [...byName.values()];
}

/**
 * The plugins to run: named by `--plugin`, or configured by an override, or (with no `--plugin`)
 * found in the plugins folder or as a package. A `--plugin` or setting naming no plugin is an error.
 */
export function selectPlugins(found: readonly DiscoveredPlugin[], enabled: readonly string[], configured: Iterable<string>): DiscoveredPlugin[] {
  const names = new Set(found.map((f) => f.plugin.name));
  for (const name of enabled) {
    if (!names.has(name)) throw new InvalidArgumentError(`--plugin ${name}: no such plugin (found: ${[...names].sort().join(', ')})`, { data: { plugin: name } });
  }
  const configuredSet = new Set(configured);
  return found.filter(
    (f) => enabled.includes(f.plugin.name) || configuredSet.has(f.plugin.name) || (enabled.length === 0 && f.origin !== 'builtin'),
  );
}
