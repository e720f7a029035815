/**
 * Small helpers for tests that touch the file system or real processes. Kept free of side effects on
 * import (unlike ../integration/processes.ts, which watches the CLI processes it starts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'uvu';

/** A temp directory and how to remove it. */
export interface TempDirContext {
  dir: string;
  cleanup: () => void;
}

/** A fresh temp directory, removed by `cleanup()`. */
export function tempDir(prefix = 'cla-test-'): TempDirContext {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Gives each test of `suite` a fresh temp directory in `ctx.dir`, removed after the test. */
export function tempDirEach(suite: Test<TempDirContext>, prefix?: string): void {
  suite.before.each((ctx) => {
    Object.assign(ctx, tempDir(prefix));
  });
  suite.after.each((ctx) => {
    ctx.cleanup();
  });
}

/** `open` on `hub.db` in a fresh temp directory, for a store conformance factory: `cleanup` closes the store, then removes the directory. */
export function openInTempDir<S extends { close(): void | Promise<void> }>(prefix: string, open: (file: string) => S): { store: S; cleanup: () => Promise<void> } {
  const { dir, cleanup } = tempDir(prefix);
  const store = open(path.join(dir, 'hub.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      cleanup();
    },
  };
}

/** Whether `pid` is gone; a zombie counts as gone (PID 1 of a container may be slow to reap, or never). */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/**
 * Polls `check` every 10 ms, at most `attempts` times, and returns its last answer. The bound is not a
 * duration assertion: it only keeps a broken test from hanging.
 */
export async function eventually(check: () => boolean, attempts = 300): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}
