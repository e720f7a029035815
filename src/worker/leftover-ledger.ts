/**
 * A folder of small JSON records, one file per thing a worker must not leave behind if it dies (a job's
 * process group, a transfer's temp file). A record is written before the thing exists or right after, and
 * removed when it is cleaned up normally; whatever a SIGKILL leaves is read back at the next start.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { writeJsonFile, writeJsonFileInBackground } from './state-dir.ts';

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

/** A record written by {@link Ledger.addInBackground}. */
export interface BackgroundLedgerEntry {
  /** Removes the record once its write is done (idempotent). */
  remove(): void;
}

/** Records of one kind under `<stateDir>/<kind>/`. */
export class Ledger<T> {
  private readonly dir: string;
  private dirMade = false;

  constructor(stateDir: string, kind: string) {
    this.dir = path.join(stateDir, kind);
  }

  /** Writes a new record. */
  add(value: T): LedgerEntry<T> {
    const file = this.newFile();
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

  /**
   * Writes a new record without blocking the event loop (an exec job's record, issue 13): the write starts
   * `delayMs` later and runs in the thread pool, and {@link BackgroundLedgerEntry.remove} waits for it, so
   * a record is never written after its removal. A record removed within `delayMs` is never written at
   * all (a short job costs no disk write). A crash before the write is done leaves no record; one after
   * the removal started may leave it (or its temp file, ignored by {@link list}): the next start then
   * finds a record of a job that ended, which {@link list}'s reader must tell from a live one
   * (job-watchdog.ts does). `value` is called when the write starts; `undefined` means no record.
   */
  addInBackground(value: () => T | undefined, onError: (error: unknown) => void, delayMs = 0): BackgroundLedgerEntry {
    let written: Promise<string | undefined> | undefined;
    const write = () => {
      timer = undefined;
      const record = value();
      if (record === undefined) return;
      let file: string;
      try {
        file = this.newFile();
      } catch (error) {
        onError(error);
        return;
      }
      written = writeJsonFileInBackground(file, record).then(
        () => file,
        (error: unknown) => {
          onError(error);
          return undefined;
        },
      );
    };
    let timer: NodeJS.Timeout | undefined = setTimeout(write, delayMs);
    // A pending record must not keep the process alive.
    timer.unref();
    let removed = false;
    return {
      remove: () => {
        if (removed) return;
        removed = true;
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        void written?.then((file) => (file === undefined ? undefined : rm(file, { force: true }))).catch(onError);
      },
    };
  }

  /** A fresh record's path; the folder is made at the first record (a worker never removes it). */
  private newFile(): string {
    if (!this.dirMade) {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.dirMade = true;
    }
    return path.join(this.dir, `${randomBytes(8).toString('hex')}.json`);
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
