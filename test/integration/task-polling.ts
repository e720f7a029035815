/** Shared by the task suites with real processes (tasks.test.ts, task-failures.test.ts). */

/** Polls (a bounded number of times, 100 ms apart) until `check` holds; fails the test otherwise. */
export async function until(what: string, check: () => boolean | Promise<boolean>, attempts = 1200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never happened: ${what}`);
}
