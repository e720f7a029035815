/**
 * How this program starts itself again (`cla-worker start` spawns `run`, `service` writes the command
 * into a unit): `[node, script]` normally, whichever script started us (the sources through tsx, dist/ or
 * a bin link), and just the executable in a single-file build, where `process.execPath` is the program.
 */
import path from 'node:path';
import { isSea } from 'node:sea';

/** The arguments that come between `process.execPath` and the subcommand: `[script]`, or `[]` in a single executable. */
export function selfScript(): string[] {
  if (isSea()) return [];
  const script = process.argv[1];
  return script === undefined ? [] : [path.resolve(script)];
}
