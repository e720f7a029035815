/**
 * Files of legacy ship and fetch jobs wait on disk, never in memory: a ship's bytes arrive from the admin
 * client before the legacy worker pulls them (`/pubsub/pop`), a fetch's bytes arrive from the worker
 * (`/pubsub/push`, size unknown up front) before the hub relays them within the client's credit. The
 * folder is 0700, its files 0600, and the bytes held in all are bounded.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ClaError, ErrorCode } from '../../errors.ts';

/** The spool folder and its byte budget. */
export class Spool {
  private used = 0;

  private constructor(
    readonly dir: string,
    private readonly maxBytes: number,
    private readonly owned: boolean,
  ) {}

  /** Uses `dir` (created 0700 if missing; old spool files removed), or a fresh folder under `parent` that `close()` removes. */
  static async open(dir: string | undefined, parent: string, maxBytes: number): Promise<Spool> {
    if (dir !== undefined) {
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      const spool = new Spool(dir, maxBytes, false);
      await spool.close(); // files a crashed hub left behind belong to jobs that no longer exist
      return spool;
    }
    const made = await fs.promises.mkdtemp(path.join(parent, 'cla-hub-legacy-'));
    return new Spool(made, maxBytes, true);
  }

  /** A fresh random key (the `filekey` of a command): 128 bits, so keys cannot be guessed. */
  newKey(): string {
    return randomBytes(16).toString('hex');
  }

  /** The file of a key. */
  pathFor(key: string): string {
    return path.join(this.dir, `${key}.spool`);
  }

  /** Takes `bytes` from the budget; SPOOL full is IO_ERROR (retryable: other transfers finish and free it). */
  reserve(bytes: number): void {
    if (this.used + bytes > this.maxBytes) {
      throw new ClaError(ErrorCode.IoError, `The hub's legacy spool is full (${this.used} of ${this.maxBytes} bytes in use); try again when other transfers have finished`, {
        retryable: true,
        data: { used: this.used, max: this.maxBytes },
      });
    }
    this.used += bytes;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  /** Removes a key's file, if there. */
  async remove(key: string): Promise<void> {
    await fs.promises.rm(this.pathFor(key), { force: true });
  }

  /** Removes the folder when this spool made it, else only the spool files left in it. */
  async close(): Promise<void> {
    if (this.owned) {
      await fs.promises.rm(this.dir, { recursive: true, force: true });
      return;
    }
    const names = await fs.promises.readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(names.filter((name) => name.endsWith('.spool') || name.includes('.cla-tmp-')).map((name) => fs.promises.rm(path.join(this.dir, name), { force: true })));
  }
}
