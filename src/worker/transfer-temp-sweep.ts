/**
 * Temp files of dead transfers are removed at the next start (issue 11, case 8). A ship writes
 * `.<name>.cla-tmp-<random>` beside its target and renames it only when complete; a worker killed
 * meanwhile leaves it behind. Each ship records its target before the temp file exists and the temp path
 * once it does; {@link TempFileSweeper.sweep} removes, at start, every temp file such a record names (or, for
 * a record without a temp path, the temp files of that target) and says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import { Ledger } from './leftover-ledger.ts';
import { isTempName } from './ops/transfer-io.ts';

/** A transfer in progress as recorded. */
interface TransferRecord {
  job: string;
  target: string;
  temp: string | null;
}

/** Where removals are told: a Logger, or the CLI's warnings. */
export interface Warner {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** What a running transfer reports about its temp file. */
export interface TempFileTracking {
  /** The temp file now exists at `tempPath`. */
  created(tempPath: string): void;
  /** The transfer ended: the temp file was renamed or removed. */
  release(): void;
}

/** Records temp files of running transfers and removes those of dead ones. */
export class TempFileSweeper {
  private readonly ledger: Ledger<TransferRecord>;

  constructor(
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.ledger = new Ledger(stateDir, 'transfers');
  }

  /** Starts recording a transfer to `target` (call before its temp file is created). */
  track(job: string, target: string): TempFileTracking {
    let entry: ReturnType<Ledger<TransferRecord>['add']> | undefined;
    try {
      entry = this.ledger.add({ job, target, temp: null });
    } catch (error) {
      this.log.warn({ job, err: error }, 'cannot record the transfer in the state folder; the next start could not remove its temp file');
    }
    return {
      created: (temp) => entry?.update({ job, target, temp }),
      release: () => entry?.remove(),
    };
  }

  /** Removes the temp files of transfers a previous process of this worker left; returns their paths. */
  sweep(): string[] {
    const removed: string[] = [];
    for (const record of this.ledger.list()) {
      const value = record.value;
      if (value !== undefined) {
        removed.push(
          ...removeTempFiles(value, this.log, (temp) => ({
            fields: { job: value.job },
            message: `removed ${temp}, the temp file of a transfer to ${value.target} cut short by the end of a previous process of this worker`,
          })),
        );
      }
      this.ledger.drop(record);
    }
    return removed;
  }
}

/**
 * Removes a dead transfer's temp file (or, before its path was known, every temp file of its target) and
 * logs each removal with `describe`; returns the paths removed. Only names a transfer makes are touched,
 * so a record cannot be turned into "delete any file". Shared with `cla-hub fetch` (hub/fetch-leftovers.ts).
 */
export function removeTempFiles(
  record: { target: string; temp: string | null },
  log: Warner,
  describe: (temp: string) => { fields: Record<string, unknown>; message: string },
): string[] {
  const removed: string[] = [];
  for (const temp of record.temp !== null ? [record.temp] : tempFilesOf(record.target)) {
    if (!isTempName(path.basename(temp))) continue;
    const { fields, message } = describe(temp);
    try {
      fs.unlinkSync(temp);
      removed.push(temp);
      log.warn({ ...fields, path: temp }, message);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') log.warn({ ...fields, path: temp, errno: code }, `cannot remove the leftover temp file ${temp}: ${(error as Error).message}`);
    }
  }
  return removed;
}

/** `.<name>.cla-tmp-*` beside `target`. */
function tempFilesOf(target: string): string[] {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}.cla-tmp-`;
  try {
    return fs.readdirSync(dir).filter((name) => name.startsWith(prefix) && isTempName(name)).map((name) => path.join(dir, name));
  } catch {
    return [];
  }
}
