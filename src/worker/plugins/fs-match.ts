/**
 * The fs plugin's name patterns (`fs.pattern`): a glob, or a regular expression written `/.../flags`
 * or `re:...`.
 *
 * - A glob without `/` matches the entry's name: `*.tmp`, `core.[0-9]*`, `cache-??`.
 * - A glob with `/` matches the path relative to its root: `build/**`, `*\/logs/*.log`.
 *   `*` and `?` stay within one path segment; `**` crosses segments.
 * - A regular expression is tested against the path relative to its root (`/`-separated, no leading
 *   `/`): `/\.log$/`, `re:^cache/`.
 */
import { InvalidArgumentError } from '../../errors.ts';

export interface NameMatcher {
  /** The pattern as given. */
  readonly source: string;
  /** `name` is the entry's name, `relative` its path under the root (`a/b/c.txt`). */
  matches(name: string, relative: string): boolean;
}

/** Glob -> anchored RegExp source. */
export function globToRegExp(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` also matches no folder at all
        if (glob[i + 2] === '/') {
          out += '(?:.*/)?';
          i += 2;
        } else {
          out += '.*';
          i += 1;
        }
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        out += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return `^${out}$`;
}

/** Parses `fs.pattern`; throws naming the setting when the regex does not compile. */
export function parseNamePattern(pattern: string, key = 'fs.pattern'): NameMatcher {
  const slashed = /^\/(.*)\/([a-z]*)$/s.exec(pattern);
  const regexSource = slashed ? slashed[1]! : pattern.startsWith('re:') ? pattern.slice(3) : null;
  if (regexSource !== null) {
    let regex: RegExp;
    try {
      regex = new RegExp(regexSource, slashed ? slashed[2] : '');
    } catch (error) {
      throw new InvalidArgumentError(`Expected \`${key}\` to be a regular expression, got \`${pattern}\`: ${(error as Error).message}`);
    }
    return { source: pattern, matches: (_name, relative) => regex.test(relative) };
  }
  const regex = new RegExp(globToRegExp(pattern));
  const onPath = pattern.includes('/');
  return { source: pattern, matches: (name, relative) => regex.test(onPath ? relative : name) };
}
