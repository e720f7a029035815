/**
 * `npm run bench`: every benchmark in turn, each in its own process with its default options, so one
 * command gives the whole picture (bench/RESULTS.md). Each benchmark also runs alone, with options:
 *
 *   node --import tsx bench/run.ts        exec round trips over one connection
 *   node --import tsx bench/transfer.ts   ship / fetch throughput vs raw ws
 *   node --import tsx bench/tasks.ts      tasks through the dispatcher (--store sqlite|jetstream)
 *   node --import tsx bench/tasks-engines.ts  tasks on SQLite vs JetStream with 1, 2, 3 hubs
 *   node --import tsx bench/nats-cluster.ts   3 hubs on a 3-node cluster (R3), the task stream leader killed
 *   node --import tsx bench/broadcast.ts  action broadcast to N workers
 *   npm run bench:peers                   vs BullMQ, vs a raw ws floor, memory per idle worker
 *
 * A failing benchmark does not stop the others; the run exits 1 when any failed. Files in bench/ that
 * are neither listed here nor known helpers are named at the end, so a new benchmark is not silently
 * left out.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);

/** Benchmarks, in the order they run (paths relative to bench/). */
const BENCHMARKS = ['run.ts', 'transfer.ts', 'tasks.ts', 'tasks-engines.ts', 'nats-cluster.ts', 'broadcast.ts', 'peers/run.ts', 'cli-startup.ts'];
/** Files in bench/ that are not benchmarks of their own. */
const HELPERS = ['all.ts', 'worker-process.ts'];

function runOne(file: string): Promise<number | string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(BENCH, file)], { cwd: ROOT, stdio: 'inherit' });
    child.once('error', (error) => resolve(error.message));
    child.once('exit', (code, signal) => resolve(signal ?? code ?? 0));
  });
}

async function main(): Promise<void> {
  if (process.argv.length > 2) {
    process.stderr.write('bench/all.ts takes no options: run one benchmark alone to pass some (see the list at the top of bench/all.ts)\n');
    process.exitCode = 2;
    return;
  }
  const missing = BENCHMARKS.filter((file) => !fs.existsSync(path.join(BENCH, file)));
  const times: string[] = [];
  const failed: string[] = [];
  const start = performance.now();
  for (const file of BENCHMARKS.filter((f) => !missing.includes(f))) {
    process.stdout.write(`\n===== bench/${file} =====\n\n`);
    const at = performance.now();
    const end = await runOne(file);
    const seconds = (performance.now() - at) / 1000;
    times.push(`  bench/${file.padEnd(14)} ${seconds.toFixed(1).padStart(6)} s${end === 0 ? '' : `  FAILED (${end})`}`);
    if (end !== 0) failed.push(file);
  }
  const unlisted = fs
    .readdirSync(BENCH)
    .filter((f) => f.endsWith('.ts') && !BENCHMARKS.includes(f) && !HELPERS.includes(f));
  process.stdout.write(
    [
      '',
      '===== all benchmarks =====',
      ...times,
      `  total ${((performance.now() - start) / 1000).toFixed(1)} s`,
      ...(missing.length > 0 ? [`  not found: ${missing.map((f) => `bench/${f}`).join(', ')}`] : []),
      ...(unlisted.length > 0 ? [`  not run (add to bench/all.ts if they are benchmarks): ${unlisted.map((f) => `bench/${f}`).join(', ')}`] : []),
      '',
    ].join('\n'),
  );
  if (failed.length > 0) process.exitCode = 1;
}

await main();
