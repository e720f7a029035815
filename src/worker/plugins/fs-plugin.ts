/**
 * The `fs` collector plugin: files and folders under configured roots as resources, a cleanup plan by
 * age and name, removal dependents first (files before their folders), and tags in sidecar files.
 *
 *   cla-worker run --plugin fs --override fs.roots=/data/tmp --override fs.older_than=7d \
 *     --override fs.pattern='*.tmp' --override fs.dry_run=true
 *
 * Settings (`fs.KEY`):
 * | key | meaning | default |
 * | --- | --- | --- |
 * | `roots` | comma separated absolute folders to collect | none (collects nothing) |
 * | `older_than` | flag entries not modified for this long: seconds, or `30m`, `12h`, `7d` | unset |
 * | `pattern` | flag entries whose name (glob) or relative path (glob with `/`, `/regex/`, `re:...`) matches | unset |
 * | `kinds` | kinds that may be flagged: `file`, `folder`, `symlink` | `file,folder` |
 * | `dry_run` | report what cleanup would delete (`action_info`) and delete nothing | `false` |
 * | `host` | the `host` attribute of every resource | the machine's host name |
 * | `max_entries` | stop collecting a root after this many entries | 200000 |
 * | `max_depth` | folders deeper than this are not entered | 64 |
 *
 * With neither `older_than` nor `pattern` the plan flags nothing: cleanup needs an explicit rule. A
 * root is never flagged. When both are set, an entry must match both.
 *
 * Resources: id = absolute path; kind `file`, `folder` or `symlink` (never followed); attrs `path`,
 * `name`, `root`, `size`, `mtime` (ms), `age_s`, `depth`, `host`; tags from `.cla-tags.json`; edges:
 * the parent folder (an entry depends on its folder).
 *
 * Cleanup re-checks every entry before removing it: still under a root and not a root, still there, a
 * file not modified since it was collected. A flagged folder is removed only once empty (its sidecar
 * aside); one that is not is kept and reported. Each removal is reported as `action_info`
 * (`deleted file PATH`), in the order done.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClaError, ErrorCode } from '../../errors.ts';
import type { Resource } from '../../protocol/frames-bus.ts';
import type { ActionContext } from '../actions/action-extension.ts';
import type { TaskInvocation } from '../subscriptions.ts';
import { cleanupOrder } from './cleanup-order.ts';
import { parseNamePattern, type NameMatcher } from './fs-match.ts';
import { forgetTags, readTags, TAGS_FILE, updateTags } from './fs-tags.ts';
import type { CleanupContext, PlanContext, PluginInit, PluginInstance, WorkerPlugin } from './plugin.ts';
import type { PluginConfig } from './plugin-config.ts';

export type FsKind = 'file' | 'folder' | 'symlink';

export const FS_CONFIG_KEYS = ['roots', 'older_than', 'pattern', 'kinds', 'dry_run', 'host', 'max_entries', 'max_depth'] as const;

export interface FsOptions {
  roots: string[];
  olderThanS: number | null;
  pattern: NameMatcher | null;
  kinds: ReadonlySet<FsKind>;
  dryRun: boolean;
  host: string;
  maxEntries: number;
  maxDepth: number;
}

/** Checks the `fs.*` settings. @throws InvalidArgumentError naming the setting */
export function parseFsOptions(config: PluginConfig): FsOptions {
  config.checkKeys(FS_CONFIG_KEYS);
  const roots = config.list('roots', []).map((root) => {
    if (!path.isAbsolute(root)) throw new ClaError(ErrorCode.InvalidArgument, `Expected \`fs.roots\` to hold absolute folders, got \`${root}\``);
    const resolved = path.resolve(root);
    if (resolved === path.parse(resolved).root) throw new ClaError(ErrorCode.InvalidArgument, `Refusing \`${root}\` in \`fs.roots\`: a filesystem root cannot be a cleanup root`);
    return resolved;
  });
  for (const a of roots) {
    for (const b of roots) {
      if (a !== b && b.startsWith(a + path.sep)) throw new ClaError(ErrorCode.InvalidArgument, `\`fs.roots\` overlap: ${b} is inside ${a}`);
    }
  }
  const kinds = config.list('kinds', ['file', 'folder']);
  for (const kind of kinds) {
    if (kind !== 'file' && kind !== 'folder' && kind !== 'symlink') {
      throw new ClaError(ErrorCode.InvalidArgument, `Expected \`fs.kinds\` to list file, folder or symlink, got \`${kind}\``);
    }
  }
  const pattern = config.get('pattern');
  return {
    roots: [...new Set(roots)],
    olderThanS: config.seconds('older_than', null),
    pattern: pattern === undefined || pattern === '' ? null : parseNamePattern(pattern),
    kinds: new Set(kinds as FsKind[]),
    dryRun: config.boolean('dry_run', false),
    host: config.string('host', os.hostname()),
    maxEntries: config.number('max_entries', 200_000, 1),
    maxDepth: config.number('max_depth', 64, 0),
  };
}

function kindOf(stat: fs.Stats): FsKind | null {
  if (stat.isDirectory()) return 'folder';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isFile()) return 'file';
  return null; // sockets, devices, fifos: not collected
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof ClaError ? signal.reason : new ClaError(ErrorCode.Aborted, 'aborted');
}

/** One root's entries as resources (the root first), depth first in name order. */
export async function* walkRoot(root: string, options: FsOptions, now: number, signal: AbortSignal, warn: (message: string) => void): AsyncGenerator<Resource> {
  const make = (full: string, stat: fs.Stats, kind: FsKind, depth: number, tags: Record<string, string>, parent: string | null): Resource => ({
    id: full,
    kind,
    attrs: {
      path: full,
      name: depth === 0 ? full : path.basename(full),
      root,
      size: stat.size,
      mtime: Math.round(stat.mtimeMs),
      age_s: Math.max(0, Math.floor((now - stat.mtimeMs) / 1000)),
      depth,
      host: options.host,
    },
    tags,
    edges: parent === null ? [] : [parent],
  });
  let rootStat: fs.Stats;
  try {
    rootStat = await fs.promises.lstat(root);
  } catch (error) {
    warn(`root ${root} cannot be read: ${(error as Error).message}`);
    return;
  }
  if (!rootStat.isDirectory()) {
    warn(`root ${root} is not a folder`);
    return;
  }
  yield make(root, rootStat, 'folder', 0, readTags(root)['.'] ?? {}, null);
  let count = 1;
  const stack: Array<{ dir: string; depth: number }> = [{ dir: root, depth: 0 }];
  while (stack.length > 0) {
    checkAborted(signal);
    const { dir, depth } = stack.pop()!;
    let names: string[];
    try {
      names = (await fs.promises.readdir(dir)).sort();
    } catch (error) {
      warn(`folder ${dir} cannot be read: ${(error as Error).message}`);
      continue;
    }
    const tags = readTags(dir);
    const children: Array<{ dir: string; depth: number }> = [];
    for (const name of names) {
      if (name === TAGS_FILE || name.startsWith(`${TAGS_FILE}.`)) continue;
      const full = path.join(dir, name);
      let stat: fs.Stats;
      try {
        stat = await fs.promises.lstat(full);
      } catch {
        continue; // gone meanwhile
      }
      const kind = kindOf(stat);
      if (!kind) continue;
      if (count >= options.maxEntries) {
        warn(`root ${root}: stopped after ${options.maxEntries} entries (fs.max_entries)`);
        return;
      }
      count += 1;
      yield make(full, stat, kind, depth + 1, tags[name] ?? {}, dir);
      if (kind === 'folder' && depth + 1 < options.maxDepth) children.push({ dir: full, depth: depth + 1 });
    }
    stack.push(...children.reverse());
  }
}

/** Whether the rule flags a resource (never a root). */
export function isFlagged(resource: Resource, options: FsOptions, now: number): boolean {
  const attrs = resource.attrs as { root: string; depth: number; mtime: number; name: string };
  if (attrs.depth === 0 || !options.kinds.has(resource.kind as FsKind)) return false;
  if (options.olderThanS === null && options.pattern === null) return false;
  if (options.olderThanS !== null && (now - attrs.mtime) / 1000 < options.olderThanS) return false;
  if (options.pattern !== null) {
    const relative = path.relative(attrs.root, resource.id).split(path.sep).join('/');
    if (!options.pattern.matches(path.basename(resource.id), relative)) return false;
  }
  return true;
}

/** The root an absolute path is strictly inside of, or null (a root itself is not inside). */
function rootOf(target: string, options: FsOptions): string | null {
  return options.roots.find((root) => target.startsWith(root + path.sep)) ?? null;
}

/** The fs plugin's state in one worker process. */
export class FsCollector implements PluginInstance {
  private lastGraph: Resource[] | null = null;
  private lastPlan: string[] | null = null;
  readonly subscriptions = { collect: {}, plan_cleanup: {}, cleanup: {} };
  readonly tasks;

  constructor(
    readonly options: FsOptions,
    private readonly init: Pick<PluginInit, 'clock' | 'workerId' | 'log'>,
  ) {
    this.tasks = [{ name: 'tag', filter: { plugin: ['fs'], worker: [init.workerId] }, handler: (task: TaskInvocation) => this.tag(task) }];
  }

  async *collect(ctx: ActionContext): AsyncIterable<Resource> {
    const graph: Resource[] = [];
    const now = this.init.clock.now();
    if (this.options.roots.length === 0) ctx.info('warn', 'fs: no roots configured (--override fs.roots=/some/folder): nothing collected');
    for (const [i, root] of this.options.roots.entries()) {
      for await (const resource of walkRoot(root, this.options, now, ctx.signal, (m) => ctx.info('warn', `fs: ${m}`))) {
        graph.push(resource);
        yield resource;
      }
      ctx.progress(i + 1, this.options.roots.length, `fs: ${root} collected`);
    }
    this.lastGraph = graph;
  }

  async planCleanup(ctx: PlanContext): Promise<string[]> {
    const graph = this.lastGraph ?? (await this.scan(ctx.signal, (m) => ctx.info('warn', `fs: ${m}`)));
    const now = this.init.clock.now();
    if (this.options.olderThanS === null && this.options.pattern === null) {
      ctx.info('warn', 'fs: no cleanup rule (fs.older_than, fs.pattern): nothing planned');
    }
    const plan = graph.filter((r) => isFlagged(r, this.options, now)).map((r) => r.id);
    this.lastPlan = plan;
    const rule = [this.options.olderThanS !== null ? `older than ${this.options.olderThanS} s` : '', this.options.pattern ? `matching ${this.options.pattern.source}` : '']
      .filter(Boolean)
      .join(' and ');
    ctx.info('info', `fs: ${plan.length} of ${graph.length} entries planned for cleanup${rule ? ` (${rule})` : ''}`);
    return plan;
  }

  async cleanup(ctx: CleanupContext): Promise<void> {
    const ids = ctx.flagged ?? this.lastPlan ?? [];
    const known = new Map((this.lastGraph ?? []).map((r) => [r.id, r] as const));
    const nodes = ids.map((id) => ({ id, edges: known.get(id)?.edges ?? [path.dirname(id)] }));
    const order = cleanupOrder(nodes, ids);
    let removed = 0;
    let kept = 0;
    const failures: string[] = [];
    for (const id of order) {
      checkAborted(ctx.signal);
      const outcome = await this.remove(id, known.get(id), ctx);
      if (outcome === 'removed') removed += 1;
      else if (outcome === 'kept') kept += 1;
      else failures.push(outcome.error);
    }
    const verb = this.options.dryRun ? 'would delete' : 'deleted';
    ctx.info('info', `fs: ${verb} ${removed} of ${order.length} flagged entries${kept ? `, kept ${kept}` : ''}${failures.length ? `, ${failures.length} failed` : ''}${this.options.dryRun ? ' (dry run)' : ''}`);
    if (failures.length > 0) throw new ClaError(ErrorCode.IoError, `${failures.length} removal(s) failed: ${failures.slice(0, 5).join('; ')}`);
  }

  private async scan(signal: AbortSignal, warn: (m: string) => void): Promise<Resource[]> {
    const out: Resource[] = [];
    const now = this.init.clock.now();
    for (const root of this.options.roots) for await (const r of walkRoot(root, this.options, now, signal, warn)) out.push(r);
    return out;
  }

  private async remove(id: string, collected: Resource | undefined, ctx: CleanupContext): Promise<'removed' | 'kept' | { error: string }> {
    const target = path.resolve(id);
    if (target !== id || rootOf(target, this.options) === null) {
      ctx.info('warn', `fs: kept ${id}: not inside a configured root (or a root itself)`);
      return 'kept';
    }
    let stat: fs.Stats;
    try {
      stat = await fs.promises.lstat(target);
    } catch {
      ctx.info('info', `fs: ${target} is already gone`);
      return 'kept';
    }
    const kind = kindOf(stat);
    if (!kind || (collected && collected.kind !== kind)) {
      ctx.info('warn', `fs: kept ${target}: it is no longer a ${collected?.kind ?? 'file or folder'}`);
      return 'kept';
    }
    if (kind !== 'folder' && collected && Math.round(stat.mtimeMs) !== collected.attrs.mtime) {
      ctx.info('warn', `fs: kept ${target}: modified since it was collected`);
      return 'kept';
    }
    if (this.options.dryRun) {
      ctx.info('info', `would delete ${kind} ${target} (dry run)`);
      return 'removed';
    }
    try {
      if (kind === 'folder') {
        const left = await fs.promises.readdir(target);
        if (left.some((name) => name !== TAGS_FILE)) {
          ctx.info('info', `fs: kept folder ${target}: not empty`);
          return 'kept';
        }
        await fs.promises.rm(path.join(target, TAGS_FILE), { force: true });
        await fs.promises.rmdir(target);
      } else await fs.promises.unlink(target);
    } catch (error) {
      const message = `${target}: ${(error as Error).message}`;
      ctx.info('error', `fs: could not delete ${message}`);
      return { error: message };
    }
    forgetTags(target);
    ctx.info('info', `deleted ${kind} ${target}`);
    return 'removed';
  }

  /** The `tag` task: `data = {id, set: {k: v}, remove: [k]}`; returns the entry's tags. */
  tag(task: TaskInvocation): { id: string; tags: Record<string, string> } {
    const data = (task.data ?? {}) as { id?: unknown; set?: unknown; remove?: unknown };
    if (typeof data.id !== 'string') throw new ClaError(ErrorCode.InvalidArgument, 'A tag task needs `data.id`, the path of the entry');
    const target = path.resolve(data.id);
    const isRoot = this.options.roots.includes(target);
    if (!isRoot && rootOf(target, this.options) === null) throw new ClaError(ErrorCode.PathNotAllowed, `${target} is not under a root of this worker's fs plugin`);
    if (!fs.existsSync(target)) throw new ClaError(ErrorCode.FileNotFound, `${target} does not exist`);
    const set: Record<string, string> = {};
    for (const [k, v] of Object.entries((data.set ?? {}) as Record<string, unknown>)) if (typeof v === 'string') set[k] = v;
    const remove = Array.isArray(data.remove) ? data.remove.filter((k): k is string => typeof k === 'string') : [];
    const tags = updateTags(target, isRoot, set, remove);
    this.init.log.info({ path: target, tags }, 'fs: tags updated');
    const graphEntry = this.lastGraph?.find((r) => r.id === target);
    if (graphEntry) graphEntry.tags = tags;
    return { id: target, tags };
  }
}

/** The plugin object (built in; `--plugin fs` or any `fs.*` setting enables it). */
export const fsPlugin: WorkerPlugin = {
  name: 'fs',
  kind: 'collector',
  description: 'Files and folders under fs.roots: collect, plan cleanup by age and name, clean up files before folders, tags in .cla-tags.json.',
  configKeys: FS_CONFIG_KEYS,
  create: (init) => new FsCollector(parseFsOptions(init.config), init),
};
