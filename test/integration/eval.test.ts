/**
 * `cla-hub eval` and `cla-hub probe` end to end with real processes: a hub, a registered worker started
 * with tags and a --root, and the CLIs run as a user would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, WORKER_BIN, runCli, startCli, startHub, startWorker, stopAll, tempDir, type LiveProcess, type RunningHub } from './processes.ts';
import { isGone } from '../unit/test-helpers.ts';

interface Ctx {
  dir: string;
  root: string;
  cleanup: () => void;
  hub: RunningHub;
  worker: LiveProcess;
}

const evalSuite = suite<Ctx>('eval-cli');

// uvu sets FORCE_COLOR=1 and the children get NO_COLOR=1: Node would warn about the pair into the eval's logs.
const QUIET_COLORS = { FORCE_COLOR: '0' };

evalSuite.before(async (ctx) => {
  Object.assign(ctx, tempDir('cla-eval-it-'));
  ctx.dir = fs.realpathSync(ctx.dir);
  ctx.root = path.join(ctx.dir, 'root');
  fs.mkdirSync(ctx.root);
  fs.writeFileSync(path.join(ctx.root, 'present.txt'), 'here');
  // A package installed in the worker's working directory, for require() and import() from eval.
  const pkg = path.join(ctx.dir, 'node_modules', 'greeter');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'greeter', main: 'index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), 'exports.greet = (name) => `hello ${name}`;');
  ctx.hub = await startHub(ctx.dir);
  const reg = await runCli(WORKER_BIN, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'evalw'], { cwd: ctx.dir });
  assert.is(reg.code, 0, reg.stderr);
  const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  ctx.worker = await startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', 'evalw', '--token', token, '--tags', 'nodejs,linux', '--root', ctx.root], QUIET_COLORS);
});

evalSuite.after(async (ctx) => {
  await ctx.worker?.stop();
  await ctx.hub?.process.stop('SIGINT');
  await stopAll();
  ctx.cleanup();
});

const hub = (ctx: Ctx, ...args: string[]) => runCli(HUB_BIN, [...args, '--data', ctx.hub.data], { cwd: ctx.dir, env: QUIET_COLORS });

evalSuite('eval prints the value as indented JSON and the logs on stderr, exit 0', async (ctx) => {
  const r = await hub(ctx, 'eval', '--worker', 'evalw', `console.log('working'); return { sum: 1 + 2, list: [true, null], cwd: process.cwd() }`);
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), { sum: 3, list: [true, null], cwd: ctx.dir });
  assert.match(r.stdout, /^\{\n {2}"sum": 3,/);
  assert.is(r.stderr, 'working\n');
});

evalSuite('eval --json is compact; a string is printed raw without it', async (ctx) => {
  const json = await hub(ctx, 'eval', '--tags', 'nodejs', '--json', `return { host: os.hostname(), when: new Date(0) }`);
  assert.is(json.code, 0, json.stderr);
  assert.is(json.stdout, `{"host":${JSON.stringify((await import('node:os')).hostname())},"when":"1970-01-01T00:00:00.000Z"}\n`);
  const raw = await hub(ctx, 'eval', '--tags', 'nodejs,linux', `return 'plain text'`);
  assert.is(raw.stdout, 'plain text\n');
  const quoted = await hub(ctx, 'eval', '--worker', 'evalw', '--json', `return 'plain text'`);
  assert.is(quoted.stdout, '"plain text"\n');
});

evalSuite('eval --file runs a script that requires and imports packages from the worker directory', async (ctx) => {
  const script = path.join(ctx.dir, 'script.js');
  fs.writeFileSync(script, `const { greet } = require('greeter');\nconst YAMLish = await import('greeter');\nreturn [greet('worker'), typeof YAMLish.default.greet, typeof crypto.randomUUID()];\n`);
  const r = await hub(ctx, 'eval', '--worker', 'evalw', '--file', script);
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), ['hello worker', 'function', 'string']);
});

evalSuite('a thrown error: exit 1, the stack and [EVAL_ERROR] on stderr', async (ctx) => {
  const r = await hub(ctx, 'eval', '--worker', 'evalw', `console.log('about to fail');\nthrow new TypeError('bad input')`);
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /^about to fail\nTypeError: bad input\n\s+at .*\[eval\]:2:\d+/);
  assert.match(r.stderr, /✖ TypeError: bad input \[EVAL_ERROR\]\n$/);
  const syntax = await hub(ctx, 'eval', '--worker', 'evalw', `return (`);
  assert.is(syntax.code, 1);
  assert.match(syntax.stderr, /SyntaxError/);
});

evalSuite('a timeout stops the code: exit 125 TIMEOUT, the eval process is gone, the worker goes on', async (ctx) => {
  const r = await hub(ctx, 'eval', '--worker', 'evalw', '--timeout', '0.5', `console.log(process.pid); while (true) {}`);
  assert.is(r.code, 125, r.stderr);
  assert.match(r.stderr, /✖ Eval did not finish within 500 ms and was stopped \[TIMEOUT\]/);
  const pid = Number(/^(\d+)\n/.exec(r.stderr)?.[1]);
  assert.ok(pid > 0, r.stderr);
  assert.ok(isGone(pid), `eval process ${pid} is still running`);
  const after = await hub(ctx, 'eval', '--worker', 'evalw', '--json', 'return 1');
  assert.is(after.stdout, '1\n');
});

evalSuite('Ctrl-C cancels the remote code: exit 130 CANCELLED, the eval process is gone', async (ctx) => {
  const marker = path.join(ctx.dir, 'eval-running.pid');
  const code = `console.log('waiting forever'); fs.writeFileSync(${JSON.stringify(marker)}, String(process.pid)); await new Promise(() => {})`;
  const cli = startCli(HUB_BIN, ['eval', '--worker', 'evalw', '--data', ctx.hub.data, code], { cwd: ctx.dir, env: QUIET_COLORS });
  // Polling for the code to run on the worker (bounded; not a duration assertion).
  const written = () => (fs.existsSync(marker) ? Number(fs.readFileSync(marker, 'utf8')) : 0);
  for (let i = 0; i < 1000 && !(written() > 0); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  const pid = written();
  assert.ok(pid > 0, `the code never ran\n${cli.stderr}`);
  const exit = await cli.stop('SIGINT');
  assert.is(exit.code, 130, cli.stderr);
  assert.match(cli.stderr, /cancelling/);
  // The logs of the cancelled code still arrive.
  assert.match(cli.stderr, /waiting forever\n✖ Eval cancelled: cancelled by the hub \[CANCELLED\]/);
  assert.ok(isGone(pid), `eval process ${pid} is still running`);
});

evalSuite('eval usage errors exit 2: no code, both code and --file, bad --timeout', async (ctx) => {
  const none = await hub(ctx, 'eval', '--worker', 'evalw');
  assert.is(none.code, 2);
  assert.match(none.stderr, /exactly one of the two.*INVALID_ARGUMENT/);
  const both = await hub(ctx, 'eval', '--worker', 'evalw', '--file', 'x.js', 'return 1');
  assert.is(both.code, 2);
  const timeout = await hub(ctx, 'eval', '--worker', 'evalw', '--timeout', 'soon', 'return 1');
  assert.is(timeout.code, 2);
  assert.match(timeout.stderr, /--timeout/);
});

evalSuite('eval on no matching worker: exit 125 NO_WORKER', async (ctx) => {
  const r = await hub(ctx, 'eval', '--tags', 'cobol', '--wait', '0', 'return 1');
  assert.is(r.code, 125);
  assert.match(r.stderr, /NO_WORKER/);
});

evalSuite('probe file_exists: true exit 0, false exit 1, outside --root exit 125 PATH_NOT_ALLOWED', async (ctx) => {
  const yes = await hub(ctx, 'probe', '--worker', 'evalw', 'file_exists', path.join(ctx.root, 'present.txt'));
  assert.is(yes.code, 0, yes.stderr);
  assert.is(yes.stdout, 'true\n');
  const no = await hub(ctx, 'probe', '--worker', 'evalw', 'file_exists', path.join(ctx.root, 'absent.txt'));
  assert.is(no.code, 1, no.stderr);
  assert.is(no.stdout, 'false\n');
  const outside = await hub(ctx, 'probe', '--worker', 'evalw', 'file_exists', path.join(ctx.dir, 'script.js'));
  assert.is(outside.code, 125);
  assert.match(outside.stderr, /outside the allowed roots.*\[PATH_NOT_ALLOWED\]/);
});

evalSuite('probe capable: all tags true exit 0, a missing tag false exit 1, an unknown check exit 2', async (ctx) => {
  const yes = await hub(ctx, 'probe', '--worker', 'evalw', 'capable', 'linux,nodejs');
  assert.is(yes.code, 0, yes.stderr);
  assert.is(yes.stdout, 'true\n');
  const no = await hub(ctx, 'probe', '--worker', 'evalw', 'capable', 'nodejs,windows');
  assert.is(no.code, 1);
  assert.is(no.stdout, 'false\n');
  const bad = await hub(ctx, 'probe', '--worker', 'evalw', 'is_fast', 'x');
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /`file_exists` or `capable`.*INVALID_ARGUMENT/);
});

evalSuite.run();
