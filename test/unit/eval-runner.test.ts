// The eval child process (src/worker/ops/eval-process.ts + eval-runner.mjs) with real processes (POSIX).
// No durations are asserted: polling helpers only keep a broken test from hanging.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { ErrorCode, InvalidArgumentError } from '../../src/errors.ts';
import { isPlainValue } from '../../src/protocol/frames.ts';
import { parseEvalOptions, runEval, type EvalOptions, type EvalOutcome } from '../../src/worker/ops/eval-process.ts';
import { eventually, isGone } from './test-helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const runner = suite('eval-runner');
// uvu sets FORCE_COLOR=1 beside run.mjs's NO_COLOR=1, and Node then warns about the conflict on the
// child's stderr, which is part of the captured logs.
const { FORCE_COLOR: _forceColor, ...TEST_ENV } = process.env;
const BASE: EvalOptions = { cwd: ROOT, env: TEST_ENV };

type Ok = Extract<EvalOutcome, { ok: true }>;
type Failed = Extract<EvalOutcome, { ok: false }>;

async function ok(code: string, options: EvalOptions = {}, timeoutMs?: number): Promise<Ok> {
  const outcome = await runEval(code, timeoutMs, { ...BASE, ...options }).outcome;
  if (!outcome.ok) assert.unreachable(`expected a value, got ${outcome.error.code}: ${outcome.error.message}\n${JSON.stringify(outcome.error.data)}`);
  assert.ok(isPlainValue((outcome as Ok).value));
  return outcome as Ok;
}

async function failed(code: string, options: EvalOptions = {}, timeoutMs?: number): Promise<Failed> {
  const outcome = await runEval(code, timeoutMs, { ...BASE, ...options }).outcome;
  if (outcome.ok) assert.unreachable(`expected an error, got ${JSON.stringify(outcome.value)}`);
  return outcome as Failed;
}

runner('returns values of several types as plain values, with what the code printed', async () => {
  const r = await ok(`
    console.log('to stdout');
    console.error('to stderr');
    return {
      n: 42, s: 'text', b: true, nil: null, u: undefined, list: [1, 'two', undefined],
      date: new Date(Date.UTC(2020, 1, 3)), buf: Buffer.from('hi'), f: () => 1, big: 10n,
      map: new Map([['k', 'v']]), nested: { deep: [{ x: 1 }] },
    };`);
  const value = r.value as Record<string, unknown>;
  assert.equal({ ...value, buf: [...(value.buf as Uint8Array)] }, {
    n: 42, s: 'text', b: true, nil: null, u: null, list: [1, 'two', null],
    date: '2020-02-03T00:00:00.000Z', buf: [104, 105], big: '10', map: { k: 'v' }, nested: { deep: [{ x: 1 }] },
  });
  assert.instance(value.buf, Uint8Array);
  assert.ok(r.logs.includes('to stdout\n'));
  assert.ok(r.logs.includes('to stderr\n'));
  assert.is(r.logsTruncated, false);
  assert.ok(r.durationMs >= 0);
});

runner('no return is null; scalars and strings come back as they are', async () => {
  assert.is((await ok('1 + 1')).value, null);
  assert.is((await ok('return "x".repeat(3)')).value, 'xxx');
  assert.is((await ok('return 0.5')).value, 0.5);
});

runner('async code is awaited', async () => {
  const r = await ok(`
    const { setTimeout: sleep } = require('node:timers/promises');
    await sleep(20);
    const text = await fs.promises.readFile(path.join(process.cwd(), 'package.json'), 'utf8');
    return JSON.parse(text).name;`);
  assert.is(r.value, 'cla-worker');
});

runner('the exposed modules are in scope', async () => {
  const r = await ok(`return [typeof fs.readFileSync, typeof path.join, typeof os.hostname, typeof child_process.execFileSync,
    typeof crypto.createHash, typeof util.inspect, typeof require, os.hostname() === require('node:os').hostname(),
    crypto.createHash('sha256').update('a').digest('hex').slice(0, 8), child_process.execFileSync('echo', ['hi']).toString()]`);
  assert.equal(r.value, ['function', 'function', 'function', 'function', 'function', 'function', 'function', true, 'ca978112', 'hi\n']);
});

runner('require and import() of a builtin and of a package installed in the working directory', async () => {
  const r = await ok(`
    const zlib = require('node:zlib');
    const YAML = require('yaml');
    const imported = await import('yaml');
    return [zlib.gunzipSync(zlib.gzipSync('z')).toString(), YAML.parse('a: [1, 2]'), imported.stringify({ b: 1 }), require.resolve('yaml')]`);
  const [unzipped, parsed, stringified, resolved] = r.value as [string, unknown, string, string];
  assert.is(unzipped, 'z');
  assert.equal(parsed, { a: [1, 2] });
  assert.is(stringified, 'b: 1\n');
  assert.ok(resolved.startsWith(path.join(ROOT, 'node_modules', 'yaml')), resolved);
});

runner('modules resolve from the working directory, not from the worker install', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-eval-'));
  try {
    const pkg = path.join(dir, 'node_modules', 'localpkg');
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'localpkg', exports: { require: './index.cjs', import: './index.mjs' } }));
    fs.writeFileSync(path.join(pkg, 'index.cjs'), 'module.exports = "cjs from " + __dirname.split("/").at(-2);');
    fs.writeFileSync(path.join(pkg, 'index.mjs'), 'export default "esm";');
    fs.writeFileSync(path.join(dir, 'helper.mjs'), 'export const answer = 42;');
    const r = await ok(`return [require('localpkg'), (await import('localpkg')).default, (await import('./helper.mjs')).answer, process.cwd()]`, { cwd: dir });
    assert.equal(r.value, ['cjs from node_modules', 'esm', 42, fs.realpathSync(dir)]);
    // yaml is installed beside the worker, not in this directory.
    const missing = await failed(`return require('yaml')`, { cwd: dir });
    assert.is(missing.error.code, ErrorCode.EvalError);
    assert.match(missing.error.message, /Cannot find module 'yaml'/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

runner('a thrown error is EVAL_ERROR with name, message, and a stack pointing into the code', async () => {
  const r = await failed(`const x = 1;\nfunction inner() { throw new TypeError('bad input ' + x); }\ninner();`);
  assert.is(r.error.code, ErrorCode.EvalError);
  assert.is(r.error.message, 'TypeError: bad input 1');
  const data = r.error.data as Record<string, unknown>;
  assert.is(data.name, 'TypeError');
  assert.is(data.message, 'bad input 1');
  assert.is(data.phase, 'run');
  assert.match(String(data.stack), /^TypeError: bad input 1\n\s+at inner \(.*\[eval\]:2:\d+\)/);
  // The runner's own frames are cut off.
  assert.not.match(String(data.stack), /eval-runner/);
});

runner('a rejected promise, a thrown non-Error, a syntax error and an error thrown later by a callback', async () => {
  const rejected = await failed(`await Promise.reject(new RangeError('no'))`);
  assert.is((rejected.error.data as Record<string, unknown>).name, 'RangeError');
  const thrownString = await failed(`throw 'plain string'`);
  assert.is(thrownString.error.message, "Error: Threw a non-Error value: 'plain string'");
  assert.is((thrownString.error.data as Record<string, unknown>).stack, null);
  const syntax = await failed('return 1 +* 2');
  assert.is((syntax.error.data as Record<string, unknown>).phase, 'compile');
  assert.is((syntax.error.data as Record<string, unknown>).name, 'SyntaxError');
  const later = await failed(`setTimeout(() => { throw new Error('from a timer') }, 5); await new Promise(() => {})`);
  assert.is(later.error.message, 'Error: from a timer');
  assert.is((later.error.data as Record<string, unknown>).phase, 'uncaught');
});

runner('logs come with an error too', async () => {
  const r = await failed(`console.log('before the throw'); throw new Error('x')`);
  assert.is((r.error.data as Record<string, unknown>).logs, 'before the throw\n');
});

runner('process.exit() in the code is EVAL_ERROR naming the exit code', async () => {
  const r = await failed(`console.log('bye'); process.exit(3)`);
  assert.is(r.error.code, ErrorCode.EvalError);
  assert.match(r.error.message, /exited with code 3/);
  const data = r.error.data as Record<string, unknown>;
  assert.is(data.phase, 'exit');
  assert.is(data.exitCode, 3);
  assert.is(data.logs, 'bye\n');
});

runner('a cycle in the result is EVAL_ERROR without a stack', async () => {
  const r = await failed(`const a = { b: {} }; a.b.a = a; return a`);
  assert.is(r.error.code, ErrorCode.EvalError);
  assert.match(r.error.message, /cycle: \$\.b\.a refers back/);
  assert.is((r.error.data as Record<string, unknown>).phase, 'result');
  assert.is((r.error.data as Record<string, unknown>).stack, null);
});

runner('a result over the size limit is EVAL_ERROR saying it is too large (default 512 KiB)', async () => {
  const big = await failed(`return 'x'.repeat(600 * 1024)`);
  assert.is(big.error.code, ErrorCode.EvalError);
  assert.match(big.error.message, /too large: more than 524288 bytes/);
  const fits = await ok(`return 'x'.repeat(500 * 1024)`);
  assert.is((fits.value as string).length, 500 * 1024);
  const custom = await failed(`return { list: Array.from({ length: 100 }, (_, i) => i) }`, { maxResultBytes: 100 });
  assert.match(custom.error.message, /too large: more than 100 bytes encoded \(at \$\.list\[\d+\]\)/);
});

runner('logs are capped at maxLogBytes and marked truncated', async () => {
  const r = await ok(`for (let i = 0; i < 100; i++) console.log('line ' + i); return 'done'`, { maxLogBytes: 50 });
  assert.is(r.value, 'done');
  assert.is(Buffer.byteLength(r.logs), 50);
  assert.ok(r.logs.startsWith('line 0\nline 1\n'));
  assert.is(r.logsTruncated, true);
});

runner('the code answering leaves no process behind, even with a timer still armed', async () => {
  const handle = runEval(`setInterval(() => {}, 1000); return process.pid`, undefined, BASE);
  const outcome = await handle.outcome;
  assert.ok(outcome.ok);
  assert.is((outcome as Ok).value, handle.pid);
  assert.ok(isGone(handle.pid!));
});

runner('a process.send() by the code itself is not taken as the answer', async () => {
  const r = await ok(`process.send({ type: 'result', value: 'spoofed' }); return 'real'`);
  assert.is(r.value, 'real');
});

runner('timeout stops a busy loop: TIMEOUT, and the process is gone (simulated clock)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-eval-'));
  const marker = path.join(dir, 'looping');
  const clock = new SimulatedClock();
  try {
    const handle = runEval(`console.log('starting'); fs.writeFileSync(${JSON.stringify(marker)}, ''); while (true) {}`, 5000, { ...BASE, clock, graceMs: 500 });
    // The code is in its loop before the clock reaches the deadline.
    assert.ok(await eventually(() => fs.existsSync(marker)), 'the code never started');
    clock.increment(4999);
    assert.not.ok(isGone(handle.pid!));
    clock.increment(1);
    const outcome = await handle.outcome;
    assert.not.ok(outcome.ok);
    const error = (outcome as Failed).error;
    assert.is(error.code, ErrorCode.Timeout);
    assert.match(error.message, /within 5000 ms/);
    assert.equal(error.data, { timeoutMs: 5000, logs: 'starting\n', logsTruncated: false });
    assert.ok(isGone(handle.pid!));
    assert.is(outcome.durationMs, 5000);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

runner('timeout stops a never-resolving promise and the processes the code started', async () => {
  // A simulated clock: the deadline passes when the code has started its child, however loaded the machine.
  const clock = new SimulatedClock();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-eval-'));
  const marker = path.join(dir, 'child.pid');
  try {
    const code = `const child = child_process.spawn('sleep', ['60'], { stdio: 'ignore' }); console.log(child.pid); fs.writeFileSync(${JSON.stringify(marker)}, String(child.pid)); await new Promise(() => {})`;
    const handle = runEval(code, 300, { ...BASE, clock, graceMs: 200 });
    assert.ok(await eventually(() => fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') !== ''), 'the code never started its child');
    clock.increment(300);
    const outcome = await handle.outcome;
    assert.not.ok(outcome.ok);
    const error = (outcome as Failed).error;
    assert.is(error.code, ErrorCode.Timeout);
    assert.ok(isGone(handle.pid!));
    const grandchild = Number(fs.readFileSync(marker, 'utf8'));
    assert.is(Number((error.data as Record<string, unknown>).logs), grandchild, 'the logs kept before the timeout are reported');
    assert.ok(await eventually(() => isGone(grandchild)), `sleep ${grandchild} outlived the eval`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

runner('an ignored SIGINT and SIGTERM do not save the code: SIGKILL follows', async () => {
  const clock = new SimulatedClock();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-eval-'));
  const marker = path.join(dir, 'ready');
  try {
    const handle = runEval(`process.on('SIGINT', () => {}); process.on('SIGTERM', () => {}); fs.writeFileSync(${JSON.stringify(marker)}, ''); await new Promise(() => {})`, 1000, { ...BASE, clock, graceMs: 100 });
    assert.ok(await eventually(() => fs.existsSync(marker)), 'the code never started');
    clock.increment(1000); // SIGINT
    clock.increment(100); // SIGTERM
    assert.not.ok(isGone(handle.pid!));
    clock.increment(100); // SIGKILL
    const outcome = await handle.outcome;
    assert.is((outcome as Failed).error.code, ErrorCode.Timeout);
    assert.ok(isGone(handle.pid!));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

runner('cancel stops the code: CANCELLED with the reason, the process is gone; a later cancel is a no-op', async () => {
  const handle = runEval(`await new Promise(() => {})`, undefined, BASE);
  assert.ok(handle.pid !== undefined);
  handle.cancel('changed my mind');
  handle.cancel('twice');
  const outcome = await handle.outcome;
  assert.not.ok(outcome.ok);
  assert.is((outcome as Failed).error.code, ErrorCode.Cancelled);
  assert.is((outcome as Failed).error.message, 'Eval cancelled: changed my mind');
  assert.ok(isGone(handle.pid!));

  const finished = runEval('return 1', undefined, BASE);
  const first = await finished.outcome;
  finished.cancel('too late');
  assert.ok(first.ok);
});

runner('a missing working directory is SPAWN_FAILED', async () => {
  const r = await failed('return 1', { cwd: path.join(os.tmpdir(), 'cla-eval-no-such-dir') });
  assert.is(r.error.code, ErrorCode.SpawnFailed);
});

runner('options are checked', () => {
  assert.throws(() => parseEvalOptions({ graceMs: -1 }), (error: Error) => error instanceof InvalidArgumentError && error.message === 'Expected `graceMs` to be a non-negative integer, got `-1` (number)');
  assert.throws(() => parseEvalOptions({ maxResultBytes: 0 }), /Expected `maxResultBytes` to be a positive integer/);
  assert.throws(() => runEval('1', 1.5), /Expected `timeoutMs` to be a positive integer/);
  assert.equal({ ...parseEvalOptions(), clock: null }, {
    clock: null, defaultTimeoutMs: 30_000, graceMs: 1000, maxResultBytes: 512 * 1024, maxLogBytes: 64 * 1024, drainMs: 200, cwd: undefined, env: undefined,
  });
});

runner.run();
