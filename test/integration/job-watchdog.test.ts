/**
 * The worker's one job watchdog (src/worker/group-watchdog.ts, issue 13) with real processes: it stops
 * every listed group when its worker dies, survives its own death while the worker lives (the worker starts
 * a new one and lists the running groups again), and never signals a group unlisted when its job ended.
 * Ending the watchdog's stdin is what the kernel does to it when the worker dies, so the in-process tests
 * close it to stand for the worker's death.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Logger } from '../../src/logger.ts';
import { COMPACT_BYTES } from '../../src/worker/group-watchdog.ts';
import { JobGroupGuard } from '../../src/worker/job-watchdog.ts';
import { signalProcessGroup } from '../../src/worker/process-tree.ts';
import { groupGone, liveMembers } from './process-groups.ts';
import { LiveProcess, ROOT, stopAll, tempDir } from './processes.ts';
import { eventually } from '../unit/test-helpers.ts';

interface Ctx {
  dir: string;
  cleanup: () => void;
  groups: number[];
  guard?: JobGroupGuard;
}

const it = suite<Ctx>('job-watchdog');

it.before.each((ctx) => {
  Object.assign(ctx, tempDir(), { groups: [], guard: undefined });
});

it.after.each(async (ctx) => {
  ctx.guard?.watchdog.close();
  for (const pgid of ctx.groups) signalProcessGroup(pgid, 'SIGKILL');
  await stopAll();
  ctx.cleanup();
});

/** A job's process group: a shell and two sleeps, as crash-leftovers.test.ts runs. */
function startJob(ctx: Ctx): number {
  const job = spawn('/bin/sh', ['-c', 'sleep 600 & sleep 600'], { detached: true, stdio: 'ignore' });
  job.unref();
  ctx.groups.push(job.pid!);
  return job.pid!;
}

/** A guard whose watchdog processes are handed to `started`, and whose warnings are kept. */
function guardOf(ctx: Ctx): { guard: JobGroupGuard; started: ChildProcess[]; nextStart: () => Promise<ChildProcess>; warnings: string[] } {
  const started: ChildProcess[] = [];
  const waiters: Array<(child: ChildProcess) => void> = [];
  const warnings: string[] = [];
  const log = { warn: (_: unknown, message: string) => warnings.push(message), info: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger;
  const guard = new JobGroupGuard(ctx.dir, log, process.platform, {
    onStart: (child) => {
      started.push(child);
      waiters.shift()?.(child);
    },
  });
  ctx.guard = guard;
  return { guard, started, warnings, nextStart: () => new Promise((resolve) => waiters.push(resolve)) };
}

/**
 * `promise`, or a failure after 60 s. The timer also keeps the event loop alive while the test waits for
 * an unref'd watchdog (the worker's own sockets do that in production); the bound only stops a broken
 * test from hanging.
 */
async function awaited<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within 60 s`)), 60_000)));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

const exitOf = (child: ChildProcess) =>
  awaited(new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()))), `exit of watchdog ${child.pid}`);

/** Waits until a process has all three members of its job's group (the shell has started both sleeps). */
async function running(pgid: number): Promise<void> {
  assert.ok(await eventually(() => liveMembers(pgid).length === 3), `group ${pgid} runs its shell and two sleeps`);
}

/** A job started, listed with `guard`, and running. */
async function guardedJob(ctx: Ctx, guard: JobGroupGuard, job: string): Promise<number> {
  const pgid = startJob(ctx);
  guard.track(pgid, { job, cmd: 'sleep' });
  await running(pgid);
  return pgid;
}

it('a worker killed by SIGKILL while two jobs run takes both groups along', async (ctx) => {
  if (process.platform !== 'linux') return;
  const worker = new LiveProcess(spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'integration', 'guard-process.ts'), ctx.dir, '2'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  const pgids = (await worker.waitFor(/pgids=(\d+),(\d+)\n/)).slice(1, 3).map(Number);
  ctx.groups.push(...pgids);
  for (const pgid of pgids) await running(pgid);
  worker.child.kill('SIGKILL');
  await worker.exited;
  for (const pgid of pgids) await groupGone(pgid);
});

it('a watchdog killed while its worker lives is replaced, and the new one still guards the running job', async (ctx) => {
  if (process.platform !== 'linux') return;
  const { guard, started, nextStart, warnings } = guardOf(ctx);
  const pgid = startJob(ctx);
  guard.track(pgid, { job: 'j1', cmd: 'sleep' });
  await running(pgid);
  const first = started[0]!;
  const second = nextStart();
  signalProcessGroup(first.pid!, 'SIGKILL');
  const replacement = await awaited(second, 'new watchdog');
  assert.is.not(replacement.pid, first.pid);
  assert.ok(warnings.some((message) => message.includes('starting a new one')), 'the restart is logged');
  assert.equal(liveMembers(pgid).length, 3, 'the job was not touched by the restart');
  replacement.stdin!.end(); // what the worker's death does to the pipe
  await groupGone(pgid);
  await exitOf(replacement);
});

it('a job that ended is unlisted: the watchdog never signals its group, and its record is removed', async (ctx) => {
  if (process.platform !== 'linux') return;
  const { guard, started } = guardOf(ctx);
  const ended = startJob(ctx);
  const runningJob = startJob(ctx);
  const release = guard.track(ended, { job: 'ended', cmd: 'sleep' });
  guard.track(runningJob, { job: 'running', cmd: 'sleep' });
  await running(ended);
  await running(runningJob);
  const jobsDir = path.join(ctx.dir, 'jobs');
  const records = () => (fs.existsSync(jobsDir) ? fs.readdirSync(jobsDir).filter((name) => name.endsWith('.json')) : []);
  assert.ok(await eventually(() => records().length === 2), 'both jobs are recorded');
  // The group `ended` is still alive here, so a watchdog that still listed it would be seen signalling it.
  release();
  assert.equal([...guard.watchdog.groups], [runningJob]);
  assert.ok(await eventually(() => records().length === 1), 'the ended job\'s record is removed');
  const watchdog = started[0]!;
  assert.is(started.length, 1, 'one watchdog for both jobs');
  watchdog.stdin!.end();
  await groupGone(runningJob);
  await exitOf(watchdog); // after its SIGKILL round, its last chance to signal anything
  assert.is(liveMembers(ended).length, 3, 'the unlisted group was never signalled');
});

it('a group unlisted and listed again in one tick stays listed: the deferred `-PGID` line goes before the `+PGID`', async (ctx) => {
  if (process.platform !== 'linux') return;
  const { guard, started } = guardOf(ctx);
  const first = await guardedJob(ctx, guard, 'first');
  // A reused group id (a job ended, and a new one got its pid at once): the removal is still waiting for
  // the end of the tick when the new job is listed, and the list must hold them in call order.
  const pgid = startJob(ctx);
  const releaseOld = guard.track(pgid, { job: 'old', cmd: 'sleep' });
  await running(pgid);
  releaseOld();
  guard.track(pgid, { job: 'new', cmd: 'sleep' });
  assert.equal([...guard.watchdog.groups].sort(), [first, pgid].sort());
  await new Promise<void>((resolve) => setImmediate(resolve)); // past the tick of the removal
  const watchdog = started[0]!;
  watchdog.stdin!.end();
  await groupGone(pgid);
  await groupGone(first);
  await exitOf(watchdog);
});

it('the watchdog is not woken per job: listing and unlisting write to its list file, never to its pipe, and the file stays short', async (ctx) => {
  if (process.platform !== 'linux') return;
  const { guard, started } = guardOf(ctx);
  const pgid = await guardedJob(ctx, guard, 'running');
  // Many short jobs after it (ids that are not live groups: never signalled either way), past the rewrite size.
  const jobs = Math.ceil(COMPACT_BYTES / 10) + 100;
  for (let i = 0; i < jobs; i++) {
    const release = guard.track(4_000_000 + i, { job: `short-${i}`, cmd: 'true' });
    await new Promise<void>((resolve) => setImmediate(resolve));
    release();
  }
  await new Promise<void>((resolve) => setImmediate(resolve));
  const watchdog = started[0]!;
  assert.is(started.length, 1);
  assert.is((watchdog.stdin as unknown as { bytesWritten: number }).bytesWritten, 0, "nothing was written to the watchdog's pipe");
  const lists = fs.readdirSync(ctx.dir).filter((name) => name.startsWith('watchdog-groups-'));
  assert.equal(lists, [`watchdog-groups-${process.pid}`]);
  const size = fs.statSync(path.join(ctx.dir, lists[0]!)).size;
  assert.ok(size <= COMPACT_BYTES + 16, `the list was rewritten when it grew (${size} bytes)`);
  assert.is(fs.statSync(path.join(ctx.dir, lists[0]!)).mode & 0o777, 0o600);
  watchdog.stdin!.end();
  await groupGone(pgid);
  await exitOf(watchdog);
  assert.not.ok(fs.existsSync(path.join(ctx.dir, lists[0]!)), 'the watchdog removes the list it acted on');
});

it('the start-up sweep removes the list files that earlier processes\' watchdogs left', (ctx) => {
  const stale = path.join(ctx.dir, 'watchdog-groups-1');
  fs.writeFileSync(stale, '+12345\n');
  const { guard } = guardOf(ctx);
  guard.sweep();
  assert.not.ok(fs.existsSync(stale));
});

it.run();
