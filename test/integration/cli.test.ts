/**
 * The foundation slice end to end with real processes: `cla-hub start`, project/env management,
 * `cla-worker register/run/unregister`, and `cla-hub exec` with its refusals.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openRegistry } from '../../src/hub/hub-files.ts';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir, type LiveProcess, type RunningHub } from './processes.ts';

const cli = suite<{ dir: string; cleanup: () => void; hub: RunningHub; workers: LiveProcess[] }>('cli');

cli.before(async (ctx) => {
  Object.assign(ctx, tempDir());
  ctx.hub = await startHub(ctx.dir);
  ctx.workers = [];
});

cli.after(async (ctx) => {
  for (const worker of ctx.workers) await worker.stop();
  await ctx.hub.process.stop('SIGINT');
  await stopAll();
  ctx.cleanup();
});

const hub = (ctx: { dir: string; hub: RunningHub }, ...args: string[]) => {
  // Options go before `--`: what follows it is the remote command.
  const split = args.includes('--') ? args.indexOf('--') : args.length;
  return runCli(HUB_BIN, [...args.slice(0, split), '--data', ctx.hub.data, ...args.slice(split)], { cwd: ctx.dir });
};
const worker = (ctx: { dir: string }, args: string[], env: Record<string, string> = {}) => runCli(WORKER_BIN, args, { cwd: ctx.dir, env });

cli('hub start prints the default passkey and the register line, and keeps its admin token 0600', async (ctx) => {
  assert.match(ctx.hub.process.stdout, /project default \(created\) passkey: [0-9a-f]{32}/);
  // The register line may come in a later chunk than the passkey startHub waited for.
  await ctx.hub.process.waitFor(new RegExp(`cla-worker register --url ${ctx.hub.url} --passkey ${ctx.hub.passkey}`));
  assert.ok(fs.existsSync(ctx.hub.data));
  assert.is(fs.statSync(`${ctx.hub.data}.admin-token`).mode & 0o777, 0o600);
});

cli('project create / passkey / rotate and env add / list', async (ctx) => {
  const created = await hub(ctx, 'project', 'create', 'CLARIVE');
  assert.is(created.code, 0, created.stderr);
  const passkey = /passkey: ([0-9a-f]{32})/.exec(created.stdout)![1]!;
  const shown = await hub(ctx, 'project', 'passkey', 'CLARIVE');
  assert.ok(shown.stdout.includes(passkey));
  const rotated = await hub(ctx, 'project', 'passkey', 'CLARIVE', '--rotate');
  const next = /passkey: ([0-9a-f]{32})/.exec(rotated.stdout)![1]!;
  assert.is.not(next, passkey);
  const old = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', passkey]);
  assert.is(old.code, 1);
  assert.match(old.stderr, /BAD_PASSKEY/);
  const again = await hub(ctx, 'project', 'create', 'CLARIVE');
  assert.is(again.code, 125, 'a refusal by the hub exits 125');
  assert.match(again.stderr, /PROJECT_EXISTS/);
  assert.is((await hub(ctx, 'env', 'add', 'QA')).code, 0);
  assert.is((await hub(ctx, 'env', 'add', 'PROD')).code, 0);
  assert.equal((await hub(ctx, 'env', 'list')).stdout.trim().split('\n').sort(), ['PROD', 'QA']);
});

cli('register prints the seed lines, refuses duplicates, --save writes a 0600 file', async (ctx) => {
  const first = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'myworker']);
  assert.is(first.code, 0, first.stderr);
  const token = /ℹ Registration token: ([0-9a-f]{32})/.exec(first.stdout)![1]!;
  assert.match(first.stdout, /ℹ Projects registered: \["default"\]/);
  assert.match(first.stdout, /ℹ Start the worker with the following command:\ncla-worker run --id myworker --token [0-9a-f]{32}/);
  const duplicate = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'myworker']);
  assert.is(duplicate.code, 1);
  assert.match(duplicate.stderr, /already registered in project `default`.*DUPLICATE_WORKER/);

  // Same id, another project's passkey: needs the worker's token, then both projects are listed.
  const other = /passkey: ([0-9a-f]{32})/.exec((await hub(ctx, 'project', 'create', 'OTHER')).stdout)![1]!;
  const noToken = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', other, '--id', 'myworker']);
  assert.is(noToken.code, 1);
  assert.match(noToken.stderr, /--token/);
  const withToken = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', other, '--id', 'myworker', '--token', token]);
  assert.is(withToken.code, 0, withToken.stderr);
  assert.match(withToken.stdout, /Projects registered: \["OTHER","default"\]|Projects registered: \["default","OTHER"\]/);

  const saved = path.join(ctx.dir, 'conf', 'cla-worker.yml');
  fs.mkdirSync(path.dirname(saved));
  const withSave = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'saved1', '--save', saved]);
  assert.is(withSave.code, 0, withSave.stderr);
  assert.is(fs.statSync(saved).mode & 0o777, 0o600);
  assert.match(fs.readFileSync(saved, 'utf8'), /id: saved1/);
});

cli('bare `cla-worker run` from cla-worker.yml, then exec by tags streams output and exit code', async (ctx) => {
  const reg = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'java1', '--save']);
  assert.is(reg.code, 0, reg.stderr);
  assert.is(fs.statSync(path.join(ctx.dir, 'cla-worker.yml')).mode & 0o777, 0o600);
  ctx.workers.push(await startWorker(ctx.dir, ['--tag', 'java', '--tag', 'nodejs', '--envs', 'QA,PROD']));

  const shell = await hub(ctx, 'exec', '--tags', 'java,nodejs', '--', 'echo out; echo err >&2; exit 7');
  assert.is(shell.code, 7, shell.stderr);
  assert.is(shell.stdout, 'out\n');
  assert.is(shell.stderr, 'err\n');

  // argv runs directly: `$HOME` and the space stay literal.
  const argv = await hub(ctx, 'exec', '--worker', 'java1', '--', 'printf', '%s|', 'a b', '$HOME');
  assert.is(argv.code, 0, argv.stderr);
  assert.is(argv.stdout, 'a b|$HOME|');

  const cwd = await hub(ctx, 'exec', '--worker', 'java1', '--cwd', '/tmp', '--', 'pwd');
  assert.is(cwd.stdout.trim(), '/tmp');

  const env = await hub(ctx, 'exec', '--env', 'QA', '--', 'echo qa');
  assert.is(env.stdout, 'qa\n');
});

cli('the hub stores each job with its outcome and the tail of its output', async (ctx) => {
  const run = await hub(ctx, 'exec', '--worker', 'java1', '--', 'echo stored-line; exit 5');
  assert.is(run.code, 5);
  const { registry, close } = openRegistry(ctx.hub.data);
  try {
    const job = (await registry.recentJobs(10)).find((j) => j.command === 'echo stored-line; exit 5');
    assert.ok(job, 'the job is in the store');
    assert.is(job!.workerId, 'java1');
    assert.is(job!.outcome, 'failed');
    assert.is(job!.exitCode, 5);
    assert.is(Buffer.from(job!.output!).toString(), 'stored-line\n');
  } finally {
    close();
  }
});

cli('exec refusals: no matching worker, unknown env, timeout', async (ctx) => {
  const none = await hub(ctx, 'exec', '--tags', 'cobol', '--', 'true');
  assert.is(none.code, 125);
  assert.match(none.stderr, /No connected worker matches tags \[cobol\].*NO_WORKER/);
  const noId = await hub(ctx, 'exec', '--worker', 'ghost', '--', 'true');
  assert.is(noId.code, 125);
  assert.match(noId.stderr, /Start one with `cla-worker run --id ghost`.*NO_WORKER/);
  const envNone = await hub(ctx, 'exec', '--env', 'DEV', '--', 'true');
  assert.is(envNone.code, 125);
  const timeout = await hub(ctx, 'exec', '--worker', 'java1', '--timeout', '0.5', '--', 'sleep 30');
  assert.is.not(timeout.code, 0);
  assert.match(timeout.stderr, /timed out/);
  // Bad values are usage errors (exit 2), found before connecting, so the CLI does not hang on an open connection.
  const badTimeout = await hub(ctx, 'exec', '--worker', 'java1', '--timeout', 'abc', '--', 'true');
  assert.is(badTimeout.code, 2, badTimeout.stderr);
  assert.match(badTimeout.stderr, /`--timeout`.*INVALID_ARGUMENT/);
  const badWait = await hub(ctx, 'exec', '--worker', 'java1', '--wait', '-1', '--', 'true');
  assert.is(badWait.code, 2, badWait.stderr);
  assert.match(badWait.stderr, /`--wait`.*INVALID_ARGUMENT/);
  // Commander's own usage errors exit 2 too (the README's "2: the command line is invalid"); --help exits 0.
  const noCommand = await hub(ctx, 'exec', '--worker', 'java1');
  assert.is(noCommand.code, 2, noCommand.stderr);
  assert.match(noCommand.stderr, /missing required argument 'command'/);
  const unknown = await worker(ctx, ['run', '--no-such-flag']);
  assert.is(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /unknown option '--no-such-flag'/);
  assert.is((await hub(ctx, 'exec', '--help')).code, 0);
  // A hub that cannot be reached is a hub error (125, as eval and rulebook run), and the message says what to do.
  const down = await hub(ctx, 'exec', '--url', 'ws://127.0.0.1:1', '--', 'true');
  assert.is(down.code, 125, down.stderr);
  assert.match(down.stderr, /Cannot connect to the hub at ws:\/\/127\.0\.0\.1:1.*Is the hub running\? Start it with `cla-hub start`.*\[CONNECTION_FAILED\]/);
  fs.writeFileSync(path.join(ctx.dir, 'ship-me.txt'), 'x');
  const shipDown = await hub(ctx, 'ship', '--url', 'ws://127.0.0.1:1', 'ship-me.txt', '/tmp/never-written.txt');
  assert.is(shipDown.code, 125, shipDown.stderr);
  assert.match(shipDown.stderr, /\[CONNECTION_FAILED\]/);
});

cli('worker refusals at start: unknown env (case-sensitive), bad token, missing credentials', async (ctx) => {
  const env = await worker(ctx, ['run', '--id', 'java1', '--env', 'qa']);
  assert.is(env.code, 1);
  assert.match(env.stderr, /Environment qa not found on the hub.*UNKNOWN_ENV/);
  const token = await worker(ctx, ['run', '--url', ctx.hub.url, '--id', 'java1', '--token', 'f'.repeat(32)]);
  assert.is(token.code, 1);
  assert.match(token.stderr, /BAD_TOKEN/);
  const empty = tempDir();
  const missing = await runCli(WORKER_BIN, ['run'], { cwd: empty.dir, env: { HOME: empty.dir } });
  empty.cleanup();
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /No worker id: pass --id ID --token TOKEN.*CONFIG_MISSING/);
});

cli('options from CLA_WORKER_* variables and CLA_WORKER_CONFIG', async (ctx) => {
  const elsewhere = tempDir();
  const reg = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'envworker']);
  const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  const live = await startWorker(elsewhere.dir, [], { CLA_WORKER_URL: ctx.hub.url, CLA_WORKER_ID: 'envworker', CLA_WORKER_TOKEN: token, CLA_WORKER_TAGS: 'rust' });
  const out = await hub(ctx, 'exec', '--tags', 'rust', '--', 'echo from env');
  assert.is(out.stdout, 'from env\n');
  await live.stop();
  const viaConfig = await runCli(WORKER_BIN, ['run', '--id', 'nosuch'], { cwd: elsewhere.dir, env: { CLA_WORKER_CONFIG: path.join(ctx.dir, 'cla-worker.yml') } });
  assert.is(viaConfig.code, 2);
  assert.match(viaConfig.stderr, /No token for worker `nosuch`/);
  elsewhere.cleanup();
});

cli('unregister removes the worker; its token is refused afterwards', async (ctx) => {
  const reg = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'gone']);
  const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  const connected = await startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', 'gone', '--token', token, '--tags', 'gone']);
  const wrong = await worker(ctx, ['unregister', '--url', ctx.hub.url, '--id', 'gone', '--token', 'a'.repeat(32)]);
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /BAD_TOKEN/);
  const ok = await worker(ctx, ['unregister', '--url', ctx.hub.url, '--id', 'gone', '--token', token]);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /worker gone unregistered/);
  // The connected process is told and exits instead of taking more jobs.
  const exited = await connected.exited;
  assert.is(exited.code, 1);
  assert.match(connected.stderr, /was unregistered/);
  const after = await hub(ctx, 'exec', '--tags', 'gone', '--', 'true');
  assert.match(after.stderr, /NO_WORKER/);
  const run = await worker(ctx, ['run', '--url', ctx.hub.url, '--id', 'gone', '--token', token]);
  assert.is(run.code, 1);
  assert.match(run.stderr, /BAD_TOKEN/);
  // The id is free again.
  const again = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'gone']);
  assert.is(again.code, 0, again.stderr);
});

cli.run();
