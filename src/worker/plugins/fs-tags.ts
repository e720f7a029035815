/**
 * Tags of files and folders, kept in a sidecar file `.cla-tags.json` in each folder: a JSON object from
 * entry name to its tags, `{"report.csv": {"owner": "lukas"}}`. A folder's own tags are in its parent's
 * sidecar under its name; a root's own tags are in its own sidecar under `"."`. Writes go to a temp
 * file renamed over the sidecar, so a reader never sees half a file.
 */
import fs from 'node:fs';
import path from 'node:path';

export const TAGS_FILE = '.cla-tags.json';

export type TagMap = Record<string, Record<string, string>>;

/** The sidecar of a folder; `{}` when there is none or it cannot be read as tags. */
export function readTags(folder: string): TagMap {
  let text: string;
  try {
    text = fs.readFileSync(path.join(folder, TAGS_FILE), 'utf8');
  } catch {
    return {};
  }
  try {
    const raw = JSON.parse(text) as unknown;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return {};
    const out: TagMap = {};
    for (const [name, tags] of Object.entries(raw as Record<string, unknown>)) {
      if (tags === null || typeof tags !== 'object' || Array.isArray(tags)) continue;
      out[name] = Object.fromEntries(Object.entries(tags as Record<string, unknown>).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    }
    return out;
  } catch {
    return {};
  }
}

/** Writes a folder's sidecar (removes it when no entry has tags). */
export function writeTags(folder: string, tags: TagMap): void {
  const file = path.join(folder, TAGS_FILE);
  const kept = Object.fromEntries(Object.entries(tags).filter(([, t]) => Object.keys(t).length > 0));
  if (Object.keys(kept).length === 0) {
    fs.rmSync(file, { force: true });
    return;
  }
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(kept, null, 2)}\n`);
  fs.renameSync(temp, file);
}

/** Where the tags of `target` live: the sidecar's folder and the key in it. */
export function tagLocation(target: string, isRoot: boolean): { folder: string; key: string } {
  return isRoot ? { folder: target, key: '.' } : { folder: path.dirname(target), key: path.basename(target) };
}

/** Sets and removes tags of one entry; returns its tags after the change. */
export function updateTags(target: string, isRoot: boolean, set: Record<string, string>, remove: readonly string[]): Record<string, string> {
  const { folder, key } = tagLocation(target, isRoot);
  const all = readTags(folder);
  const tags = { ...(all[key] ?? {}), ...set };
  for (const k of remove) delete tags[k];
  all[key] = tags;
  writeTags(folder, all);
  return tags;
}

/** Drops the tags of an entry that was removed. */
export function forgetTags(target: string): void {
  const { folder, key } = tagLocation(target, false);
  const all = readTags(folder);
  if (!(key in all)) return;
  delete all[key];
  writeTags(folder, all);
}
