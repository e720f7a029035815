/**
 * `cla-worker start/status/stop/service` end to end: a real hub, real daemons (detached `cla-worker run`
 * processes), real pidfiles and logfiles. Each test builds on the previous one's state.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { systemProcessTable } from '../../src/worker/daemon-pidfile.ts';
import { HUB_BIN, WORKER_BIN, runCli, startHub, stopAll, tempDir, type RunningHub } from './processes.ts';

interface Ctx {
  dir: string;
  cleanup: () => void;
  hub: RunningHub;
  /** Where `start` runs without a config file: its pidfile and logfile land here. */
  home: string;
  token: string;
  /** Every daemon pid seen, killed in `after` should a test fail half-way. */
  pids: number[];
}
const daemon = suite<Ctx>('daemon');

daemon.before(async (ctx) => {
  Object.assign(ctx, tempDir('cla-daemon-'));
  ctx.hub = await startHub(ctx.dir);
  ctx.home = path.join(ctx.dir, 'home');
  fs.mkdirSync(ctx.home);
  ctx.pids = [];
});

daemon.after(async (ctx) => {
  for (const pid of ctx.pids ?? []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await ctx.hub?.process.stop('SIGINT');
  await stopAll();
  ctx.cleanup();
});

/** `cla-worker ...` in `cwd`, with HOME there too so no real ~/cla-worker.yml is read. */
const worker = (ctx: Ctx, args: string[], cwd = ctx.home) => runCli(WORKER_BIN, args, { cwd, env: { HOME: ctx.home } });
const hubExec = (ctx: Ctx, ...args: string[]) => runCli(HUB_BIN, ['exec', '--data', ctx.hub.data, ...args], { cwd: ctx.dir });
const alive = (pid: number) => systemProcessTable.isAlive(pid);
const lines = (text: string) => text.split('\n').filter((l) => l !== '');
const readPid = (file: string) => Number(fs.readFileSync(file, 'utf8'));

daemon('start prints the seed lines; the pidfile names a live daemon; the token is not on its command line', async (ctx) => {
  const reg = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'myworker']);
  assert.is(reg.code, 0, reg.stderr);
  ctx.token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;

  const started = await worker(ctx, ['start', '--id', 'myworker', '--token', ctx.token, '--url', ctx.hub.url, '--tag', 'java']);
  assert.is(started.code, 0, started.stderr);
  const pidfile = path.join(ctx.home, 'cla-worker-myworker.pid');
  const pid = readPid(pidfile);
  ctx.pids.push(pid);
  assert.equal(lines(started.stdout), [
    'ℹ spawning cla-worker in the background...',
    `ℹ logfile=${path.join(ctx.home, 'cla-worker.log')}`,
    `ℹ pidfile=${pidfile}`,
    `ℹ forked child with pid ${pid}`,
  ]);
  assert.is(started.stderr, '', 'connected within the watch: no warning');
  assert.ok(alive(pid));

  const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  assert.match(cmdline, /cla-worker\.js run --id=myworker /);
  assert.match(cmdline, /--tag=java/);
  assert.not.ok(cmdline.includes(ctx.token), `token on the command line: ${cmdline}`);
  // It travelled in the environment, which only this user can read.
  assert.ok(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`CLA_WORKER_TOKEN=${ctx.token}`));
  assert.match(fs.readFileSync(path.join(ctx.home, 'cla-worker.log'), 'utf8'), new RegExp(`"pid":${pid},.*"msg":"connected to the hub"`));
});

daemon('status reports the running daemon as in the seed, exit 0', async (ctx) => {
  const pidfile = path.join(ctx.home, 'cla-worker-myworker.pid');
  const pid = readPid(pidfile);
  const status = await worker(ctx, ['status', '--id', 'myworker']);
  assert.is(status.code, 0, status.stderr);
  assert.equal(lines(status.stdout), [
    `ℹ checking status for workerid=myworker and pidfile=${pidfile}`,
    `ℹ logfile=${path.join(ctx.home, 'cla-worker.log')}`,
    `ℹ workerid=myworker is assigned pid=${pid}...`,
    `✔ worker is running with pid=${pid}`,
  ]);
});

daemon('a job runs through the daemon', async (ctx) => {
  const exec = await hubExec(ctx, '--worker', 'myworker', '--', 'echo from the daemon');
  assert.is(exec.code, 0, exec.stderr);
  assert.is(exec.stdout, 'from the daemon\n');
  const byTag = await hubExec(ctx, '--tags', 'java', '--', 'true');
  assert.is(byTag.code, 0, byTag.stderr);
});

daemon('a second start for the same id is refused with the running pid', async (ctx) => {
  const pid = readPid(path.join(ctx.home, 'cla-worker-myworker.pid'));
  const again = await worker(ctx, ['start', '--id', 'myworker', '--token', ctx.token, '--url', ctx.hub.url]);
  assert.is(again.code, 1);
  assert.match(again.stderr, new RegExp(`already running with pid=${pid}.*\\[DUPLICATE_WORKER\\]`));
  assert.is(again.stdout, '');
  assert.is(readPid(path.join(ctx.home, 'cla-worker-myworker.pid')), pid);
});

daemon('stop prints the seed lines, the daemon exits gracefully and the pidfile is deleted', async (ctx) => {
  const pidfile = path.join(ctx.home, 'cla-worker-myworker.pid');
  const pid = readPid(pidfile);
  const stopped = await worker(ctx, ['stop', '--id', 'myworker']);
  assert.is(stopped.code, 0, stopped.stderr);
  assert.equal(lines(stopped.stdout), [
    `ℹ stopping daemon with pid=${pid}, from pidfile=${pidfile}`,
    `ℹ killed daemon with pid=${pid}`,
    `ℹ deleted '${pidfile}'`,
  ]);
  assert.is(stopped.stderr, '', 'no SIGKILL needed');
  assert.not.ok(alive(pid));
  assert.not.ok(fs.existsSync(pidfile));
  assert.match(fs.readFileSync(path.join(ctx.home, 'cla-worker.log'), 'utf8'), /worker myworker stopped: SIGTERM received/);
});

daemon('status and stop when not running: status exits 3, stop succeeds with a warning', async (ctx) => {
  const status = await worker(ctx, ['status', '--id', 'myworker']);
  assert.is(status.code, 3);
  assert.match(status.stderr, /✖ worker is not running: no pidfile at /);
  const stop = await worker(ctx, ['stop', '--id', 'myworker']);
  assert.is(stop.code, 0, stop.stderr);
  assert.match(stop.stderr, /⚠ no pidfile at .*: worker myworker is not running/);
});

daemon('a second start appends to the logfile: the first run is kept', async (ctx) => {
  const logfile = path.join(ctx.home, 'cla-worker.log');
  const before = fs.readFileSync(logfile, 'utf8');
  const started = await worker(ctx, ['start', '--id', 'myworker', '--token', ctx.token, '--url', ctx.hub.url]);
  assert.is(started.code, 0, started.stderr);
  const pid = readPid(path.join(ctx.home, 'cla-worker-myworker.pid'));
  ctx.pids.push(pid);
  const after = fs.readFileSync(logfile, 'utf8');
  assert.ok(after.startsWith(before), 'the first run is still at the top');
  assert.match(after.slice(before.length), new RegExp(`"pid":${pid},.*"msg":"connected to the hub"`));
  assert.is((after.match(/"msg":"connected to the hub"/g) ?? []).length, 2);
  assert.is((await worker(ctx, ['stop', '--id', 'myworker'])).code, 0);
  assert.not.ok(alive(pid));
});

daemon('stale pidfiles (process gone, pid reused by another program) are reported and cleaned', async (ctx) => {
  const pidfile = path.join(ctx.home, 'cla-worker-myworker.pid');

  const exited = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => exited.once('exit', resolve));
  fs.writeFileSync(pidfile, `${exited.pid}\n`);
  const gone = await worker(ctx, ['status', '--id', 'myworker']);
  assert.is(gone.code, 1);
  assert.match(gone.stderr, new RegExp(`⚠ stale pidfile .*: pid=${exited.pid} is not running`));
  assert.match(gone.stderr, /✖ worker is not running/);
  assert.match(gone.stdout, /ℹ deleted '.*cla-worker-myworker.pid'/);
  assert.not.ok(fs.existsSync(pidfile));

  const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'innocent-bystander'], { stdio: 'ignore' });
  try {
    await new Promise((resolve) => other.once('spawn', resolve));
    fs.writeFileSync(pidfile, `${other.pid}\n`);
    const reused = await worker(ctx, ['status', '--id', 'myworker']);
    assert.is(reused.code, 1);
    assert.match(reused.stderr, new RegExp(`pid=${other.pid} is now another program \\(.*innocent-bystander\\), not cla-worker`));
    assert.not.ok(fs.existsSync(pidfile));

    fs.writeFileSync(pidfile, `${other.pid}\n`);
    const stop = await worker(ctx, ['stop', '--id', 'myworker']);
    assert.is(stop.code, 0, stop.stderr);
    assert.not.match(stop.stdout, /killed/);
    assert.not.ok(fs.existsSync(pidfile));
    assert.is(other.exitCode, null, 'the other program was not signalled');

    // start replaces a stale pidfile with a warning.
    fs.writeFileSync(pidfile, `${other.pid}\n`);
    const started = await worker(ctx, ['start', '--id', 'myworker', '--token', ctx.token, '--url', ctx.hub.url]);
    assert.is(started.code, 0, started.stderr);
    assert.match(started.stderr, /⚠ stale pidfile/);
    const pid = readPid(pidfile);
    ctx.pids.push(pid);
    assert.is.not(pid, other.pid);
    assert.is((await worker(ctx, ['stop', '--id', 'myworker'])).code, 0);
  } finally {
    other.kill('SIGKILL');
  }
});

daemon('a bad token: start reports the daemon’s own error from the log and exits 1', async (ctx) => {
  const started = await worker(ctx, ['start', '--id', 'myworker', '--token', 'f'.repeat(32), '--url', ctx.hub.url]);
  assert.is(started.code, 1);
  assert.match(started.stdout, /ℹ forked child with pid \d+/);
  assert.match(started.stderr, /✖ cla-worker exited with code 1 right after starting; last lines of .*cla-worker.log: \[SPAWN_FAILED\]/);
  assert.match(started.stderr, /\[BAD_TOKEN\]/);
  assert.not.ok(fs.existsSync(path.join(ctx.home, 'cla-worker-myworker.pid')));
});

daemon('with a config file: no token on the command line, files next to the config, graceful stop --pidfile', async (ctx) => {
  const conf = path.join(ctx.dir, 'opt', 'cla-worker.yml');
  fs.mkdirSync(path.dirname(conf));
  const reg = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'cfgworker', '--save', conf]);
  assert.is(reg.code, 0, reg.stderr);

  const started = await worker(ctx, ['start', '--config', conf]);
  assert.is(started.code, 0, started.stderr);
  const pidfile = path.join(ctx.dir, 'opt', 'cla-worker-cfgworker.pid');
  assert.match(started.stdout, new RegExp(`ℹ logfile=${path.join(ctx.dir, 'opt', 'cla-worker.log')}\n`));
  assert.match(started.stdout, new RegExp(`ℹ pidfile=${pidfile}\n`));
  const pid = readPid(pidfile);
  ctx.pids.push(pid);
  assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '), new RegExp(`run --id=cfgworker --config=${conf}`));

  // From another directory, the config file leads status to the same pidfile.
  const status = await worker(ctx, ['status', '-c', conf], ctx.dir);
  assert.is(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`✔ worker is running with pid=${pid}`));

  // SIGTERM lets a running job finish.
  const job = hubExec(ctx, '--worker', 'cfgworker', '--', 'sleep 1; echo finished');
  const logfile = path.join(ctx.dir, 'opt', 'cla-worker.log');
  for (let i = 0; i < 200 && !/"msg":"job started"/.test(fs.readFileSync(logfile, 'utf8')); i += 1) await new Promise((r) => setTimeout(r, 25));
  const stopped = await worker(ctx, ['stop', '--pidfile', pidfile], ctx.dir);
  assert.is(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, new RegExp(`ℹ stopping daemon with pid=${pid}, from pidfile=${pidfile}\nℹ killed daemon with pid=${pid}\nℹ deleted '${pidfile}'\n`));
  const finished = await job;
  assert.is(finished.code, 0, finished.stderr);
  assert.is(finished.stdout, 'finished\n');
  assert.not.ok(alive(pid));
});

daemon('a daemon shut down by the hub removes its own pidfile: status then says not running (3), not stale', async (ctx) => {
  const reg = await worker(ctx, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'byhub']);
  assert.is(reg.code, 0, reg.stderr);
  const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  const started = await worker(ctx, ['start', '--id', 'byhub', '--token', token, '--url', ctx.hub.url]);
  assert.is(started.code, 0, started.stderr);
  const pidfile = path.join(ctx.home, 'cla-worker-byhub.pid');
  const pid = readPid(pidfile);
  ctx.pids.push(pid);
  const shutdown = await runCli(HUB_BIN, ['workers', 'shutdown', 'byhub', '--yes', '--data', ctx.hub.data], { cwd: ctx.dir });
  assert.is(shutdown.code, 0, shutdown.stderr);
  for (let i = 0; i < 400 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
  assert.not.ok(alive(pid), 'the daemon exits after the hub shuts it down');
  assert.not.ok(fs.existsSync(pidfile), 'the daemon removed its pidfile');
  const status = await worker(ctx, ['status', '--id', 'byhub']);
  assert.is(status.code, 3, status.stdout + status.stderr);
});

daemon('service prints a systemd unit that reads the token from the config file', async (ctx) => {
  const conf = path.join(ctx.dir, 'opt', 'cla-worker.yml');
  const unit = await worker(ctx, ['service', '--id', 'cfgworker', '--config', conf, '--user', 'claw']);
  assert.is(unit.code, 0, unit.stderr);
  assert.match(unit.stdout, new RegExp(`^ExecStart=${process.execPath} \\S+/bin/cla-worker.js run --id cfgworker --config ${conf}$`, 'm'));
  assert.match(unit.stdout, /^User=claw$/m);
  assert.match(unit.stdout, /^Restart=on-failure$/m);
  assert.match(unit.stdout, /^NoNewPrivileges=yes$/m);
  const token = /token: (\S+)/.exec(fs.readFileSync(conf, 'utf8'))![1]!;
  assert.not.ok(unit.stdout.includes(token));

  const noFile = await worker(ctx, ['service', '--id', 'myworker']);
  assert.is(noFile.code, 2);
  assert.match(noFile.stderr, /CONFIG_MISSING/);
  const notInFile = await worker(ctx, ['service', '--id', 'myworker', '--config', conf]);
  assert.is(notInFile.code, 2);
  assert.match(notInFile.stderr, /has no registration `myworker`/);
});

daemon.run();
