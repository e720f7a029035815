/**
 * What this worker lets the hub do: which verbs (job kinds) and, for ship and fetch, which folders.
 * The default allows every verb anywhere the worker's OS user can write, like the Clarive worker; `--allow`,
 * `--deny` and `--root` narrow it. Refusals carry POLICY_DENIED or PATH_NOT_ALLOWED and nothing is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import type { JobKind } from '../protocol/frames.ts';

/** Every verb a worker can be asked to do. */
export const VERBS: readonly JobKind[] = ['exec', 'eval', 'ship', 'fetch', 'probe'];

/** Options for {@link WorkerPolicy}. */
export interface PolicyOptions {
  /** Only these verbs are allowed. @default every verb */
  allow?: string[];
  /** These verbs are refused (applied after `allow`). @default none */
  deny?: string[];
  /** Ship and fetch paths must be inside one of these folders. @default anywhere */
  roots?: string[];
}

/** The checked policy. */
export class WorkerPolicy {
  readonly verbs: ReadonlySet<JobKind>;
  readonly roots: readonly string[] | null;

  constructor(options: PolicyOptions = {}) {
    const check = (list: string[], flag: string) => {
      for (const verb of list) {
        if (!(VERBS as string[]).includes(verb)) {
          throw new InvalidArgumentError(`Expected \`${flag}\` verbs among ${VERBS.join(', ')}, got \`${verb}\``);
        }
      }
      return list as JobKind[];
    };
    const allowed = options.allow && options.allow.length > 0 ? check(options.allow, 'allow') : [...VERBS];
    const denied = check(options.deny ?? [], 'deny');
    this.verbs = new Set(allowed.filter((verb) => !denied.includes(verb)));
    this.roots = options.roots && options.roots.length > 0 ? options.roots.map((root) => realpathOrResolve(root)) : null;
  }

  /** Throws POLICY_DENIED when `verb` is not allowed. */
  checkVerb(verb: JobKind): void {
    if (!this.verbs.has(verb)) {
      throw new ClaError(ErrorCode.PolicyDenied, `This worker does not allow \`${verb}\` (allowed: ${[...this.verbs].join(', ') || 'nothing'}). Change its --allow/--deny to permit it.`, {
        data: { verb, allowed: [...this.verbs] },
      });
    }
  }

  /**
   * Resolves `requested` to an absolute path and checks it against the roots. Symlinks in the existing
   * part of the path are resolved first, so a link cannot lead outside a root. Relative paths are
   * relative to the worker's working directory.
   */
  resolvePath(requested: string): string {
    if (requested.includes('\0')) throw new ClaError(ErrorCode.PathNotAllowed, 'Path contains a NUL byte');
    const absolute = realpathOrResolve(requested);
    if (this.roots === null) return absolute;
    const inside = this.roots.some((root) => absolute === root || absolute.startsWith(root.endsWith(path.sep) ? root : root + path.sep));
    if (!inside) {
      throw new ClaError(ErrorCode.PathNotAllowed, `Path ${absolute} is outside the allowed roots (${this.roots.join(', ')}). Use a path under a root or start the worker with another --root.`, {
        data: { path: absolute, roots: [...this.roots] },
      });
    }
    return absolute;
  }
}

/**
 * The real path of `target`: symlinks are followed even when they dangle, so a link inside a root that
 * points outside resolves outside whether or not its target exists (a dangling one would otherwise look
 * like a missing path inside the root, and `probe file_exists` would tell an outside path's existence
 * apart, issue 11). The missing rest of the path is appended as given.
 */
function realpathOrResolve(target: string, hops = 0): string {
  const absolute = path.resolve(target);
  let existing = absolute;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(existing), ...rest);
    } catch {
      const parent = path.dirname(existing);
      if (parent === existing) return absolute;
      const link = danglingLink(existing);
      // 40 hops, like Linux's ELOOP limit: a loop of links resolves to where it stands (and stat fails).
      if (link !== undefined && hops < 40) return realpathOrResolve(path.join(path.resolve(parent, link), ...rest), hops + 1);
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }
}

/** The target of `file` when it is a symlink (realpath failed, so it dangles), else undefined. */
function danglingLink(file: string): string | undefined {
  try {
    return fs.readlinkSync(file);
  } catch {
    return undefined;
  }
}
