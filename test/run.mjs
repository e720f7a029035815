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
// How long uvu may take to exit after printing its summary (closing files, reaping children).
const EXIT_GRACE_MS = 15_000;
const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/linger-report.mjs', 'node_modules/uvu/bin.js', 'test', pattern], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
});
let out = '';
let lingering;
let lingered = false;
let summaryAt;
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  out += chunk.toString();
  // uvu printed its summary but something (a leaked child process, a socket, a timer) keeps it alive: a
  // test leaked it, so the run fails. linger-report.mjs prints the culprits before the kill.
  if (!lingering && /Duration:/.test(out)) {
    summaryAt = Date.now();
    lingering = setTimeout(() => {
      lingered = true;
      child.kill('SIGUSR2');
      setTimeout(() => child.kill('SIGKILL'), 1000).unref();
    }, EXIT_GRACE_MS);
  }
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
  if (lingered) {
    // Counted as one more failure: the tests passed, the run did not end.
    console.log(`\nuvu was still running ${EXIT_GRACE_MS / 1000} s after its summary (see the handles above); a test leaks a timer, socket or process`);
    console.log(`${passed} passed, ${total - passed - skipped + 1} failed${skipped ? `, ${skipped} skipped` : ''}`);
    process.exit(1);
  }
  // Exiting takes a moment (closing stores, reaping children); a slow exit is worth a look before it fails.
  const lag = summaryAt === undefined ? 0 : Date.now() - summaryAt;
  if (lag > 2000) console.log(`\nuvu exited ${lag} ms after its summary`);
  const failed = total - passed - skipped;
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failed === 0 && code === 0 ? 0 : 1);
});
