/**
 * Temp files of `cla-hub fetch` runs that were killed (issue 13: no partial file after a crash). A fetch
 * writes `.<name>.cla-tmp-<random>` beside its target and renames it only once verified; Ctrl-C and errors
 * remove it, but a SIGKILL (or a power cut) leaves it. So each fetch records, in the CLI's state folder
 * (`$XDG_STATE_HOME/cla-hub`, else `~/.local/state/cla-hub`, mode 0700), who it is, its target and then
 * its temp path, and removes the record when it ends; every later `cla-hub fetch` on this host removes the
 * temp files of records whose process is gone, and says so.
 *
 * Unlike a worker's state folder (one owner at a time), several fetches may run at once: a record is
 * swept only when its process is proven gone (another boot, or no process with that pid and start time).
 * Where that cannot be known (no /proc), nothing is removed.
 */
import os from 'node:os';
import path from 'node:path';
import { Ledger } from '../worker/leftover-ledger.ts';
import { bootId, processIdentity, startTimeOf, type ProcessIdentity } from '../worker/process-identity.ts';
import { removeTempFiles, type TempFileTracking, type Warner } from '../worker/transfer-temp-sweep.ts';

/** One fetch in progress as recorded. */
interface FetchRecord {
  owner: ProcessIdentity;
  target: string;
  temp: string | null;
}

/** The CLI's state folder. Not created. */
export function cliStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir() || os.tmpdir(), '.local', 'state');
  return path.join(base, 'cla-hub');
}

/** True only when `owner` has surely ended: another boot, or its pid runs no process started when it was. */
export function processGone(owner: ProcessIdentity): boolean {
  const now = bootId();
  if (owner.bootId === null || owner.startTime === null || now === null) return false;
  return owner.bootId !== now || startTimeOf(owner.pid) !== owner.startTime;
}

/** Records this process's fetches and removes the temp files of fetches whose process is gone. */
export class FetchLeftovers {
  private readonly ledger: Ledger<FetchRecord>;
  private readonly owner = processIdentity(process.pid);
  private warned = false;

  constructor(
    private readonly stateDir: string,
    private readonly log: Warner,
  ) {
    this.ledger = new Ledger(stateDir, 'fetches');
  }

  /** Starts recording a fetch to `target` (before its temp file exists). A folder that cannot be written is logged, not fatal. */
  track(target: string): TempFileTracking {
    let entry: ReturnType<Ledger<FetchRecord>['add']> | undefined;
    try {
      entry = this.ledger.add({ owner: this.owner, target, temp: null });
    } catch (error) {
      if (!this.warned) this.log.warn({ err: error }, `cannot record the fetch in ${this.stateDir} (make that folder writable, or point XDG_STATE_HOME at one that is); if this process is killed, its temp file beside ${target} stays`);
      this.warned = true;
    }
    return {
      created: (temp) => {
        try {
          entry?.update({ owner: this.owner, target, temp });
        } catch (error) {
          this.log.warn({ err: error }, `cannot record the temp file ${temp}; if this process is killed, it stays`);
        }
      },
      release: () => entry?.remove(),
    };
  }

  /** Removes the temp files of fetches whose process is gone; returns their paths. */
  sweep(): string[] {
    const removed: string[] = [];
    for (const record of this.ledger.list()) {
      const value = record.value;
      // An unreadable record: written through a rename, so it is not one being written; drop it.
      if (value !== undefined && !processGone(value.owner)) continue;
      if (value !== undefined) {
        removed.push(
          ...removeTempFiles(value, this.log, (temp) => ({
            fields: { pid: value.owner.pid },
            message: `removed ${temp}, the temp file of a fetch to ${value.target} cut short when its cla-hub process (pid ${value.owner.pid}) was killed`,
          })),
        );
      }
      this.ledger.drop(record);
    }
    return removed;
  }
}
