/**
 * The folder tree the `collect-and-cleanup` scenario collects and cleans up. Paths, sizes and mtimes
 * are in the frames (resource attrs, `action_info` messages), so the recorder and every worker replay
 * build the same tree at the same fixed path, with mtimes fixed relative to {@link SCENARIO_EPOCH}, the
 * time the scenario's clock starts at (record-fixtures.ts runs it on a clock offset to that instant).
 *
 *   cla-replay-tree/          1 h   folder (a root is never flagged)
 *     build/                 10 d  folder   flagged: emptied first, then removed
 *       app.bin              10 d  4096 B   flagged
 *       out.o                12 d  1500 B   flagged
 *     keep.txt               30 d   300 B   old, but the pattern does not match it
 *     logs/                   1 h  folder   new, and the pattern does not match it
 *       old.log              20 d  2048 B   flagged
 *       today.log             1 h   100 B   matches the pattern, but too new
 *     scratch.tmp             9 d   512 B   flagged
 *
 * The rule (FS_OVERRIDES in scenario-setup.ts): older than 7 days AND relative path matching
 * `re:^build(/|$)|\.(log|tmp)$`. The hub sends the flagged ids sorted (`build` before `build/app.bin`),
 * so the plugin's dependency order is what removes the files first.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * The tree's path as the fixtures hold it (resource ids, attrs, messages). Fixed, so the frames are the
 * same on every machine; only `record-fixtures.ts` builds the tree there. A worker replay builds it in
 * the test's own temp folder and maps this prefix both ways (see {@link pathMapper}), so two runs of the
 * suite never share a folder.
 */
export const REPLAY_TREE = '/tmp/cla-replay-tree';

/** 2026-01-15T09:00:00Z, a whole second: the scenario's clock starts here, mtimes are set before it. */
export const SCENARIO_EPOCH = Date.UTC(2026, 0, 15, 9, 0, 0);

const HOUR_S = 3600;
const DAY_S = 86_400;

export interface TreeEntry {
  /** Relative to {@link REPLAY_TREE}, `/`-separated; `''` is the root. */
  path: string;
  kind: 'file' | 'folder';
  /** Bytes of a file (folders' sizes depend on the filesystem). */
  size?: number;
  /** Whole seconds before {@link SCENARIO_EPOCH}. */
  ageS: number;
  /** What the fs plugin's plan must flag (and cleanup remove). */
  flagged: boolean;
}

/** Parents before children, names sorted: the order in which {@link listTree} lists them. */
export const TREE: readonly TreeEntry[] = [
  { path: '', kind: 'folder', ageS: HOUR_S, flagged: false },
  { path: 'build', kind: 'folder', ageS: 10 * DAY_S, flagged: true },
  { path: 'build/app.bin', kind: 'file', size: 4096, ageS: 10 * DAY_S, flagged: true },
  { path: 'build/out.o', kind: 'file', size: 1500, ageS: 12 * DAY_S, flagged: true },
  { path: 'keep.txt', kind: 'file', size: 300, ageS: 30 * DAY_S, flagged: false },
  { path: 'logs', kind: 'folder', ageS: HOUR_S, flagged: false },
  { path: 'logs/old.log', kind: 'file', size: 2048, ageS: 20 * DAY_S, flagged: true },
  { path: 'logs/today.log', kind: 'file', size: 100, ageS: HOUR_S, flagged: false },
  { path: 'scratch.tmp', kind: 'file', size: 512, ageS: 9 * DAY_S, flagged: true },
];

/** The absolute path of an entry (the id the fs plugin gives it). */
export const treePath = (entry: TreeEntry, root = REPLAY_TREE): string => (entry.path === '' ? root : path.join(root, entry.path));

/** An entry's mtime in ms. */
export const treeMtime = (entry: TreeEntry): number => SCENARIO_EPOCH - entry.ageS * 1000;

/** (Re)creates the tree at `root`: removes whatever is there, writes every entry, sets mtimes. */
export function createReplayTree(root = REPLAY_TREE): void {
  fs.rmSync(root, { recursive: true, force: true });
  for (const entry of TREE) {
    const full = treePath(entry, root);
    if (entry.kind === 'folder') fs.mkdirSync(full);
    // Content derived from the path: same bytes in every run, different per file.
    else fs.writeFileSync(full, Buffer.alloc(entry.size!, entry.path));
  }
  // Children first: creating an entry changes its folder's mtime.
  for (const entry of [...TREE].reverse()) {
    const at = new Date(treeMtime(entry));
    fs.utimesSync(treePath(entry, root), at, at);
  }
}

/** One line per entry under the tree: kind, path, and for files the size and mtime (folders' change with every removal). */
export function listTree(root = REPLAY_TREE): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const stat = fs.lstatSync(full);
      const relative = path.relative(root, full).split(path.sep).join('/');
      if (stat.isDirectory()) {
        out.push(`folder ${relative}`);
        walk(full);
      } else out.push(`file ${relative} size=${stat.size} mtime=${Math.round(stat.mtimeMs)}`);
    }
  };
  walk(root);
  return out;
}

/** {@link listTree} of the tree as created, with the flagged entries taken away: what cleanup must leave. */
export function expectedTreeAfterCleanup(): string[] {
  return TREE.filter((entry) => entry.path !== '' && !entry.flagged)
    .map((entry) => (entry.kind === 'folder' ? `folder ${entry.path}` : `file ${entry.path} size=${entry.size} mtime=${treeMtime(entry)}`));
}

/** The absolute paths the plan must flag. */
export function flaggedPaths(): string[] {
  return TREE.filter((entry) => entry.flagged).map((entry) => treePath(entry));
}

/** Replaces `from` by `to` in every string of a decoded frame (keys are left alone). */
export function pathMapper(from: string, to: string): (value: unknown) => unknown {
  const map = (value: unknown): unknown => {
    if (typeof value === 'string') return value.includes(from) ? value.split(from).join(to) : value;
    if (Array.isArray(value)) return value.map(map);
    if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, map(inner)]));
    }
    return value;
  };
  return map;
}
