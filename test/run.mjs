#!/usr/bin/env node
// Runs the uvu suites (`node --import tsx node_modules/uvu/bin.js test PATTERN`, not `uvu -r tsx`, see
// ../shared/STYLE.md) and ends with the one line CI reads: `N passed, N failed`.
// Usage: node test/run.mjs [pattern]   e.g. node test/run.mjs unit/
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const filter = process.argv[2];
const pattern = filter ? `${filter.replace(/[.+?^${}()|[\]\\]/g, '\\$&')}.*\\.test\\.ts$` : '\\.test\\.ts$';
const child = spawn(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', pattern], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
});
let out = '';
let lingering;
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  out += chunk.toString();
  // uvu printed its summary but something (a leaked child process, a timer) keeps it alive: end it.
  if (!lingering && /Duration:/.test(out)) lingering = setTimeout(() => child.kill('SIGKILL'), 15_000);
});
child.on('close', (code, signal) => {
  clearTimeout(lingering);
  const clean = out.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(clean)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(clean)?.[1] ?? NaN);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(clean)?.[1] ?? 0);
  if (Number.isNaN(total) || Number.isNaN(passed)) {
    // uvu died before its summary (a crash in a test file's top level): count it as one failure.
    console.log(`\nuvu exited with ${signal ?? code} before printing its summary`);
    console.log(`0 passed, 1 failed`);
    process.exit(1);
  }
  const failed = total - passed - skipped;
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failed === 0 && (code === 0 || signal === 'SIGKILL') ? 0 : 1);
});
