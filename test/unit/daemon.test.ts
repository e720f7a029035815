/**
 * The daemon's pieces without a hub: default paths, stop (SIGTERM, then SIGKILL) on a simulated clock and
 * a fake process table, the `start` -> `run` option forwarding (secrets to the environment), spawning
 * with an appended logfile and early-exit detection, and the systemd unit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { forwardOptions } from '../../src/cli/worker-daemon.ts';
import { ClaError, ErrorCode } from '../../src/errors.ts';
import { daemonPaths, defaultPidfileName, spawnDaemon, stopDaemon, type DaemonPathsInput } from '../../src/worker/daemon.ts';
import type { ProcessTable } from '../../src/worker/daemon-pidfile.ts';
import { renderSystemdUnit, systemdQuote } from '../../src/worker/daemon-service.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-daemon-'));
  dirs.push(dir);
  return dir;
};

// ---------------------------------------------------------------------------------------------------
const paths = suite('daemon paths');
const base: DaemonPathsInput = { id: 'myworker', pidfile: undefined, logfile: undefined, config: undefined, configSource: undefined, cwd: '/home/u/work' };

paths('no config file: the current directory', () => {
  assert.equal(daemonPaths(base), { pidfile: '/home/u/work/cla-worker-myworker.pid', logfile: '/home/u/work/cla-worker.log' });
});

paths('a config file: its directory, whatever the current one', () => {
  for (const configSource of ['flag', 'env', 'cwd', 'home'] as const) {
    assert.equal(daemonPaths({ ...base, config: '/opt/cla-worker/cla-worker.yml', configSource }), {
      pidfile: '/opt/cla-worker/cla-worker-myworker.pid',
      logfile: '/opt/cla-worker/cla-worker.log',
    });
  }
});

paths('/etc/cla-worker.yml: the current directory, not /etc', () => {
  assert.equal(daemonPaths({ ...base, config: '/etc/cla-worker.yml', configSource: 'etc' }).pidfile, '/home/u/work/cla-worker-myworker.pid');
});

paths('given paths: relative to cwd from flags, relative to the config file from the file', () => {
  const config = { config: '/opt/cw/cla-worker.yml', configSource: 'flag' as const };
  assert.equal(daemonPaths({ ...base, ...config, pidfile: 'run/w.pid', logfile: '/var/log/w.log' }), { pidfile: '/home/u/work/run/w.pid', logfile: '/var/log/w.log' });
  assert.equal(daemonPaths({ ...base, ...config, pidfile: 'run/w.pid', logfile: 'w.log', fromConfigFile: { pidfile: true, logfile: true } }), {
    pidfile: '/opt/cw/run/w.pid',
    logfile: '/opt/cw/w.log',
  });
});

paths('one pidfile per id, with unsafe characters replaced', () => {
  assert.is(defaultPidfileName('RKmp3hSwb'), 'cla-worker-RKmp3hSwb.pid');
  assert.is(defaultPidfileName('../x y'), 'cla-worker-.._x_y.pid');
});

paths('neither id nor pidfile: CONFIG_MISSING', () => {
  try {
    daemonPaths({ ...base, id: undefined });
    assert.unreachable();
  } catch (error) {
    assert.is((error as ClaError).code, ErrorCode.ConfigMissing);
  }
  assert.is(daemonPaths({ ...base, id: undefined, pidfile: '/x/w.pid' }).pidfile, '/x/w.pid');
});

paths.run();

// ---------------------------------------------------------------------------------------------------
const stop = suite('stopDaemon');

/** One process `pid`, which exits `exitAfterMs` after SIGTERM (never when `null`) and at once on SIGKILL. */
function dyingProcess(clock: SimulatedClock, exitAfterMs: number | null, pid = 4242) {
  const signals: string[] = [];
  let diesAt = Infinity;
  const table: ProcessTable = {
    isAlive: (p) => p === pid && clock.now() < diesAt,
    commandLine: () => ['node', 'bin/cla-worker.js', 'run'],
    kill: (p, signal) => {
      if (p !== pid || clock.now() >= diesAt) throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
      signals.push(signal);
      if (signal === 'SIGKILL') diesAt = clock.now();
      else if (exitAfterMs !== null) diesAt = Math.min(diesAt, clock.now() + exitAfterMs);
    },
  };
  return { table, signals, kill: () => (diesAt = clock.now()) };
}

/** Advances the clock in steps until `promise` settles, letting its continuations run between steps. */
async function drive<T>(clock: SimulatedClock, promise: Promise<T>, stepMs = 50): Promise<T> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < 10_000 && !settled; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
    if (!settled) clock.increment(stepMs);
  }
  return promise;
}

stop('SIGTERM is enough when the daemon exits within the timeout', async () => {
  const clock = new SimulatedClock();
  const proc = dyingProcess(clock, 3000);
  const result = await drive(clock, stopDaemon(4242, { table: proc.table, clock, timeoutMs: 15_000 }));
  assert.equal(result, { forced: false, alreadyGone: false });
  assert.equal(proc.signals, ['SIGTERM']);
  assert.ok(clock.now() >= 3000 && clock.now() < 3500, `took ${clock.now()} ms`);
});

stop('SIGKILL after the timeout', async () => {
  const clock = new SimulatedClock();
  const proc = dyingProcess(clock, null);
  const result = await drive(clock, stopDaemon(4242, { table: proc.table, clock, timeoutMs: 2000 }));
  assert.equal(result, { forced: true, alreadyGone: false });
  assert.equal(proc.signals, ['SIGTERM', 'SIGKILL']);
  assert.ok(clock.now() >= 2000 && clock.now() < 2500, `took ${clock.now()} ms`);
});

stop('a process already gone is reported as such', async () => {
  const clock = new SimulatedClock();
  const proc = dyingProcess(clock, null);
  proc.kill();
  assert.equal(await stopDaemon(4242, { table: proc.table, clock }), { forced: false, alreadyGone: true });
});

stop('EPERM: IO_ERROR naming the pid; a survivor of SIGKILL: TIMEOUT', async () => {
  const clock = new SimulatedClock();
  const eperm: ProcessTable = {
    isAlive: () => true,
    commandLine: () => ['cla-worker', 'run'],
    kill: () => {
      throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
    },
  };
  try {
    await stopDaemon(7, { table: eperm, clock });
    assert.unreachable();
  } catch (error) {
    assert.is((error as ClaError).code, ErrorCode.IoError);
    assert.match((error as Error).message, /pid=7/);
  }
  const immortal: ProcessTable = { isAlive: () => true, commandLine: () => ['cla-worker', 'run'], kill: () => undefined };
  try {
    await drive(clock, stopDaemon(7, { table: immortal, clock, timeoutMs: 100, killWaitMs: 100 }));
    assert.unreachable();
  } catch (error) {
    assert.is((error as ClaError).code, ErrorCode.Timeout);
  }
});

stop.run();

// ---------------------------------------------------------------------------------------------------
const forward = suite('start -> run option forwarding');

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
function parseStart(argv: string[]): { command: Command; options: readonly Option[] } {
  const program = new Command().exitOverride();
  const start = program
    .command('start')
    .option('--id <id>')
    .option('--token <token>')
    .option('--tags <tags>')
    .addOption(new Option('--tag <tag>').argParser(collect))
    .option('--cert-key-pass <pass>')
    .option('--no-verify-certs')
    .option('-v, --verbose')
    .option('-c, --config <file>')
    .option('--url <url>')
    .action(() => undefined);
  const options = [...start.options];
  start.option('--pidfile <file>');
  program.parse(['node', 'cla-worker', 'start', ...argv]);
  return { command: start, options };
}

forward('secrets go to the environment, everything else to arguments, the daemon-only ones nowhere', () => {
  const { command, options } = parseStart([
    '--id', 'w1', '--token', 'SECRET1', '--cert-key-pass', 'SECRET2', '--tag', 'java', '--tag', 'node js',
    '--tags', 'a,b', '--no-verify-certs', '-v', '--url', '-weird', '--pidfile', '/x.pid', '-c', 'conf.yml',
  ]);
  const { args, env } = forwardOptions(command, options, new Set(['id', 'config']));
  assert.equal(env, { CLA_WORKER_TOKEN: 'SECRET1', CLA_WORKER_CERT_KEY_PASS: 'SECRET2' });
  assert.equal(args, ['--tags=a,b', '--tag=java', '--tag=node js', '--no-verify-certs', '--verbose', '--url=-weird']);
  assert.not.ok(args.join(' ').includes('SECRET'));
});

forward('options not given are not forwarded (not even the --no-* default)', () => {
  const { command, options } = parseStart(['--id', 'w1']);
  assert.equal(forwardOptions(command, options, new Set(['id'])), { args: [], env: {} });
});

forward.run();

// ---------------------------------------------------------------------------------------------------
const spawning = suite('spawnDaemon');

spawning.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

spawning('an early exit is reported with the lines it logged; the logfile is appended to; the pidfile goes', async () => {
  const dir = tempDir();
  const logfile = path.join(dir, 'logs', 'cla-worker.log');
  fs.mkdirSync(path.dirname(logfile));
  fs.writeFileSync(logfile, 'from before\n');
  const pidfile = path.join(dir, 'cla-worker-w1.pid');
  const daemon = spawnDaemon({
    command: process.execPath,
    args: ['-e', 'console.log("out line"); console.error("bad token " + process.env.SECRET); process.exit(3)'],
    env: { ...process.env, SECRET: 's3' },
    cwd: dir,
    pidfile,
    logfile,
    watchMs: 10_000,
  });
  assert.is(fs.readFileSync(pidfile, 'utf8'), `${daemon.pid}\n`);
  const outcome = await daemon.settled;
  assert.equal(outcome, { outcome: 'exited', pid: daemon.pid, code: 3, signal: null, log: ['out line', 'bad token s3'] });
  assert.is(fs.readFileSync(logfile, 'utf8'), 'from before\nout line\nbad token s3\n');
  assert.not.ok(fs.existsSync(pidfile));
});

spawning('a ready line ends the watch; the daemon runs on in its own session', async () => {
  const dir = tempDir();
  const pidfile = path.join(dir, 'w.pid');
  const logfile = path.join(dir, 'w.log');
  const daemon = spawnDaemon({
    command: process.execPath,
    args: ['-e', 'setTimeout(() => console.log("up " + process.pid), 200); setInterval(() => {}, 1000)'],
    env: process.env,
    cwd: dir,
    pidfile,
    logfile,
    watchMs: 10_000,
    ready: (text, pid) => text === `up ${pid}`,
  });
  try {
    assert.equal(await daemon.settled, { outcome: 'ready', pid: daemon.pid });
    assert.is(fs.readFileSync(pidfile, 'utf8'), `${daemon.pid}\n`);
    // setsid: the daemon leads its own session and process group.
    const stat = fs.readFileSync(`/proc/${daemon.pid}/stat`, 'utf8');
    const [, , pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    assert.is(Number(pgrp), daemon.pid);
    assert.is(Number(session), daemon.pid);
  } finally {
    process.kill(daemon.pid, 'SIGKILL');
  }
});

spawning('still running and not ready when the watch ends: running', async () => {
  const dir = tempDir();
  const daemon = spawnDaemon({
    command: process.execPath,
    args: ['-e', 'setInterval(() => {}, 1000)'],
    env: process.env,
    cwd: dir,
    pidfile: path.join(dir, 'w.pid'),
    logfile: path.join(dir, 'w.log'),
    watchMs: 300,
    ready: () => false,
  });
  try {
    assert.equal(await daemon.settled, { outcome: 'running', pid: daemon.pid });
  } finally {
    process.kill(daemon.pid, 'SIGKILL');
  }
});

spawning('an existing pidfile refuses the spawn', () => {
  const dir = tempDir();
  const pidfile = path.join(dir, 'w.pid');
  fs.writeFileSync(pidfile, '123\n');
  try {
    spawnDaemon({ command: process.execPath, args: ['-e', ''], env: process.env, cwd: dir, pidfile, logfile: path.join(dir, 'w.log') });
    assert.unreachable();
  } catch (error) {
    assert.is((error as ClaError).code, ErrorCode.DuplicateWorker);
  }
  assert.is(fs.readFileSync(pidfile, 'utf8'), '123\n');
});

spawning.run();

// ---------------------------------------------------------------------------------------------------
const service = suite('systemd unit');

service('runs `run --id` in the foreground from the config file, never with the token', () => {
  const unit = renderSystemdUnit({
    id: 'myworker',
    user: 'claw',
    node: '/usr/bin/node',
    script: '/opt/cla worker/bin/cla-worker.js',
    config: '/opt/cla worker/cla-worker.yml',
    workingDirectory: '/opt/cla worker',
  });
  assert.match(unit, /^ExecStart=\/usr\/bin\/node "\/opt\/cla worker\/bin\/cla-worker.js" run --id myworker --config "\/opt\/cla worker\/cla-worker.yml"$/m);
  for (const setting of ['User=claw', 'Restart=on-failure', 'NoNewPrivileges=yes', 'KillSignal=SIGTERM', 'KillMode=mixed', 'WantedBy=multi-user.target']) {
    assert.ok(unit.split('\n').includes(setting), setting);
  }
  assert.not.match(unit, /--token|CLA_WORKER_TOKEN/);
  assert.match(unit, /^\[Unit\]$[\s\S]*^\[Service\]$[\s\S]*^\[Install\]$/m);
});

service('quoting: specifiers, variables, quotes and backslashes', () => {
  assert.is(systemdQuote('/usr/bin/node'), '/usr/bin/node');
  assert.is(systemdQuote('50%'), '50%%');
  assert.is(systemdQuote('$HOME'), '"$$HOME"');
  assert.is(systemdQuote('a "b"\\c'), '"a \\"b\\"\\\\c"');
});

service.run();
