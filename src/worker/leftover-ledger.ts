/**
 * A folder of small JSON records, one file per thing a worker must not leave behind if it dies (a job's
 * process group, a transfer's temp file). A record is written before the thing exists or right after, and
 * removed when it is cleaned up normally; whatever a SIGKILL leaves is read back at the next start.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeJsonFile } from './state-dir.ts';

/** One record on disk. */
export interface LedgerEntry<T> {
  /** Replaces the record's content. */
  update(value: T): void;
  /** Removes the record (idempotent). */
  remove(): void;
}

/** A record read back at start. */
export interface LedgerRecord<T> {
  file: string;
  value: T;
}

/** Records of one kind under `<stateDir>/<kind>/`. */
export class Ledger<T> {
  private readonly dir: string;

  constructor(stateDir: string, kind: string) {
    this.dir = path.join(stateDir, kind);
  }

  /** Writes a new record. */
  add(value: T): LedgerEntry<T> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${randomBytes(8).toString('hex')}.json`);
    writeJsonFile(file, value);
    let removed = false;
    return {
      update: (next) => {
        if (!removed) writeJsonFile(file, next);
      },
      remove: () => {
        if (removed) return;
        removed = true;
        fs.rmSync(file, { force: true });
      },
    };
  }

  /** Every record left on disk; unreadable ones are returned with `value` undefined so they get removed. */
  list(): Array<LedgerRecord<T | undefined>> {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((name) => name.endsWith('.json'));
    } catch {
      return [];
    }
    return names.map((name) => {
      const file = path.join(this.dir, name);
      try {
        return { file, value: JSON.parse(fs.readFileSync(file, 'utf8')) as T };
      } catch {
        return { file, value: undefined };
      }
    });
  }

  /** Removes one record read by {@link list}. */
  drop(record: LedgerRecord<unknown>): void {
    fs.rmSync(record.file, { force: true });
  }
}
