/**
 * Pidfile rules: a pid counts only while it is a live process whose command line says cla-worker. First
 * against a fake process table (every case, including our own pid), then the same cases with real
 * processes against the system table (/proc on Linux).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError, ErrorCode } from '../../src/errors.ts';
import {
  claimPidfile,
  inspectPidfile,
  readPidfile,
  removePidfile,
  systemProcessTable,
  type ProcessTable,
} from '../../src/worker/daemon-pidfile.ts';

const dirs: string[] = [];
const children: ChildProcess[] = [];
function tempFile(name = 'cla-worker-w1.pid', content?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-daemon-pid-'));
  dirs.push(dir);
  const file = path.join(dir, name);
  if (content !== undefined) fs.writeFileSync(file, content);
  return file;
}

/** A process table holding the given pids and command lines (`null`: alive, command line unreadable). */
function fakeTable(processes: Record<number, string | null>): ProcessTable {
  return {
    isAlive: (pid) => pid in processes,
    commandLine: (pid) => processes[pid]?.split(' '),
    kill: () => undefined,
  };
}

const DAEMON = '/usr/bin/node /opt/cla-worker/bin/cla-worker.js run --id=w1';

const fake = suite('pidfile, fake process table');

fake('a missing pidfile is missing', () => {
  assert.equal(inspectPidfile(tempFile(), fakeTable({})), { state: 'missing' });
});

fake('a live cla-worker is running', () => {
  assert.equal(inspectPidfile(tempFile(undefined, '4242\n'), fakeTable({ 4242: DAEMON }), 1), { state: 'running', pid: 4242 });
});

fake('a pid that is gone is stale', () => {
  assert.equal(inspectPidfile(tempFile(undefined, '4242\n'), fakeTable({}), 1), { state: 'stale', pid: 4242, reason: 'gone' });
});

fake('a pid reused by another program is stale, with its command line', () => {
  assert.equal(inspectPidfile(tempFile(undefined, '4242\n'), fakeTable({ 4242: '/usr/sbin/sshd -D' }), 1), {
    state: 'stale',
    pid: 4242,
    reason: 'reused',
    command: '/usr/sbin/sshd -D',
  });
});

fake('a command line that merely mentions cla-worker is not a daemon', () => {
  for (const command of ['tail -f /opt/cla-worker/cla-worker.log', 'vim cla-worker.yml', 'node run.js cla', 'sh -c run']) {
    const state = inspectPidfile(tempFile(undefined, '4242'), fakeTable({ 4242: command }), 1);
    assert.is(state.state === 'stale' && state.reason, 'reused', command);
  }
  for (const command of ['/usr/local/bin/cla-worker run --id=w1', 'node /opt/cla-worker/bin/cla-worker.js run', 'cla-worker.exe run']) {
    assert.is(inspectPidfile(tempFile(undefined, '4242'), fakeTable({ 4242: command }), 1).state, 'running', command);
  }
});

fake('our own pid is never the daemon, even when it looks like one', () => {
  const state = inspectPidfile(tempFile(undefined, '4242'), fakeTable({ 4242: 'node bin/cla-worker.js run' }), 4242);
  assert.is(state.state, 'stale');
  assert.is(state.state === 'stale' && state.reason, 'reused');
});

fake('a live pid whose command line cannot be read is trusted', () => {
  assert.equal(inspectPidfile(tempFile(undefined, '4242'), fakeTable({ 4242: null }), 1), { state: 'running', pid: 4242 });
});

fake('garbage, 0, 1 and an empty file are invalid', () => {
  for (const content of ['abc', '0', '1', '', '12 34', '-5']) {
    assert.equal(inspectPidfile(tempFile(undefined, content), fakeTable({ 0: DAEMON, 1: DAEMON })), { state: 'stale', pid: undefined, reason: 'invalid' }, content);
  }
  assert.is(readPidfile(tempFile(undefined, ' 77 \n')), 77);
  assert.is(readPidfile(tempFile()), null);
});

fake('claimPidfile creates exclusively, then writes the pid', () => {
  const file = tempFile('sub/dir/cla-worker-w1.pid');
  const claim = claimPidfile(file);
  try {
    claimPidfile(file);
    assert.unreachable('a second claim must fail');
  } catch (error) {
    assert.instance(error, ClaError);
    assert.is((error as ClaError).code, ErrorCode.DuplicateWorker);
  }
  claim.write(31337);
  assert.is(fs.readFileSync(file, 'utf8'), '31337\n');
  assert.is(fs.statSync(file).mode & 0o777, 0o644 & ~process.umask());
});

fake('a released claim leaves no file', () => {
  const file = tempFile();
  claimPidfile(file).release();
  assert.not.ok(fs.existsSync(file));
});

fake('removePidfile keeps a file that names another pid', () => {
  const file = tempFile(undefined, '200\n');
  assert.is(removePidfile(file, 100), false);
  assert.ok(fs.existsSync(file));
  assert.is(removePidfile(file, 200), true);
  assert.not.ok(fs.existsSync(file));
  assert.is(removePidfile(file), false, 'missing is not an error');
});

fake.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

fake.run();

const real = suite('pidfile, real processes');

/** Starts node with `args` after the script, so they show in its command line. */
function startNode(script: string, ...args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['-e', script, ...args], { stdio: 'ignore' });
  children.push(child);
  return child;
}

real.after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

real('a live process with cla-worker in its command line is running', async () => {
  const child = startNode('setInterval(() => {}, 1000)', '/opt/cla-worker.js', 'run', '--id=w1');
  await new Promise((resolve) => child.once('spawn', resolve));
  const file = tempFile(undefined, `${child.pid}\n`);
  assert.equal(inspectPidfile(file), { state: 'running', pid: child.pid! });
  assert.equal(systemProcessTable.commandLine(child.pid!)!.slice(-3), ['/opt/cla-worker.js', 'run', '--id=w1']);
});

real('an exited process is gone', async () => {
  const child = startNode('');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.not.ok(systemProcessTable.isAlive(child.pid!));
  assert.equal(inspectPidfile(tempFile(undefined, `${child.pid}`)), { state: 'stale', pid: child.pid!, reason: 'gone' });
});

real('a pid held by another program is reused, and inspecting it does not signal it', async () => {
  const child = startNode('setInterval(() => {}, 1000)', 'some-other-daemon');
  await new Promise((resolve) => child.once('spawn', resolve));
  const state = inspectPidfile(tempFile(undefined, `${child.pid}`));
  assert.is(state.state, 'stale');
  assert.is(state.state === 'stale' && state.reason, 'reused');
  assert.match(state.state === 'stale' ? state.command! : '', /some-other-daemon/);
  assert.is(child.exitCode, null);
  assert.ok(systemProcessTable.isAlive(child.pid!));
});

real('the pid of this test process is not a daemon', () => {
  const state = inspectPidfile(tempFile(undefined, `${process.pid}`));
  assert.is(state.state, 'stale');
});

real.run();
