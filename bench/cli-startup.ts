/**
 * CLI start-up: `cla-hub --help` and `cla-worker --version` from the built package (dist/, plain node)
 * side by side with `node -e ''` in one run, as ratios (issue 12: subcommands load lazily). The old way,
 * the TypeScript sources through tsx (bin/*.js), is printed too. Builds dist/ first when it is missing.
 *
 *   node --import tsx bench/cli-startup.ts [--runs 15]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;

if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'hub.js'))) {
  const built = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) process.exit(1);
}

/** Median wall time of `node args` over RUNS runs, in ms (one warm-up run first). */
function median(args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i <= RUNS; i += 1) {
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    if (i > 0) times.push(ms);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const rows: Array<[string, string[]]> = [
  ["node -e ''", ['-e', '']],
  ['cla-hub --help (dist)', [path.join('dist', 'src', 'cli', 'hub.js'), '--help']],
  ['cla-worker --version (dist)', [path.join('dist', 'src', 'cli', 'worker.js'), '--version']],
  ['cla-worker run --help (dist, loads the worker)', [path.join('dist', 'src', 'cli', 'worker.js'), 'run', '--help']],
  ['cla-hub --help (sources via tsx)', [path.join('bin', 'cla-hub.js'), '--help']],
];

console.log('cla-worker bench: CLI start-up');
console.log(`command: node --import tsx bench/cli-startup.ts --runs ${RUNS}`);
console.log(`node ${process.version}, ${process.platform}-${process.arch}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, ${new Date().toISOString()}`);
// Interleaving would be fairer on a loaded machine, but each row is a median of RUNS runs.
const baseline = median(rows[0]![1]);
console.log(`${"node -e ''".padEnd(48)} ${baseline.toFixed(1).padStart(8)} ms  1.00x`);
for (const [label, args] of rows.slice(1)) {
  const ms = median(args);
  console.log(`${label.padEnd(48)} ${ms.toFixed(1).padStart(8)} ms  ${(ms / baseline).toFixed(2)}x`);
}
