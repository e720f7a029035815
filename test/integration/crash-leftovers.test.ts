/**
 * Issue 11, "crashes leave nothing behind", with real processes killed by SIGKILL:
 * - case 7: a worker killed during `exec` takes the job's shell and its children along within seconds
 *   (its watchdog), and if the watchdog died too, the worker's next start kills them and says so.
 * - case 8: a worker killed during `ship` leaves a `.NAME.cla-tmp-...` file that its next start removes.
 * - case 9: a hub killed during an `exec` restarts and closes that job's record as `lost`.
 * - case 10: a `cla-hub fetch` killed by SIGKILL leaves its `.NAME.cla-tmp-...` file that the next
 *   `cla-hub fetch` on the host removes (issue 13: no partial file after a crash).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isTempName } from '../../src/worker/ops/transfer-io.ts';
import { groupGone, liveMembers } from './process-groups.ts';
import { HUB_BIN, WORKER_BIN, runCli, startCli, startHub, startWorker, stopAll, tempDir } from './processes.ts';
import { eventually } from '../unit/test-helpers.ts';

const it = suite<{ dir: string; cleanup: () => void }>('crash-leftovers');

it.before.each((ctx) => {
  Object.assign(ctx, tempDir());
});

it.after.each(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

async function register(dir: string, url: string, passkey: string, id: string): Promise<string> {
  const reg = await runCli(WORKER_BIN, ['register', '--url', url, '--passkey', passkey, '--id', id], { cwd: dir });
  return /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
}

interface JobView { id: string; outcome: string | null; errorCode?: string | null; finishedAt: number | null }

async function jobs(dir: string, data: string): Promise<JobView[]> {
  const listed = await runCli(HUB_BIN, ['workers', 'jobs', '--json', '--data', data], { cwd: dir });
  assert.is(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout) as JobView[];
}

const JOB = 'echo pgid=$$; sleep 600 & sleep 600';

it('case 7: a worker killed by SIGKILL during exec takes the job\'s processes along', async (ctx) => {
  if (process.platform !== 'linux') return;
  const hub = await startHub(ctx.dir, ['--admin-port', '0']);
  const token = await register(ctx.dir, hub.url, hub.passkey, 'w7');
  const worker = await startWorker(ctx.dir, ['--url', hub.url, '--id', 'w7', '--token', token]);
  const exec = startCli(HUB_BIN, ['exec', '--data', hub.data, '--worker', 'w7', '--', JOB], { cwd: ctx.dir });
  const pgid = Number((await exec.waitFor(/pgid=(\d+)/))[1]);
  assert.is(liveMembers(pgid).length, 3, 'the shell and its two sleeps run');
  worker.child.kill('SIGKILL');
  await worker.exited;
  const ms = await groupGone(pgid);
  console.log(`      case 7: job group gone ${ms} ms after SIGKILL of its worker`);
  await exec.exited;
});

it('case 7: when the watchdog died too, the next start of the worker kills the job and reports it', async (ctx) => {
  if (process.platform !== 'linux') return;
  const hub = await startHub(ctx.dir, ['--admin-port', '0']);
  const token = await register(ctx.dir, hub.url, hub.passkey, 'w7b');
  const args = ['--url', hub.url, '--id', 'w7b', '--token', token];
  const worker = await startWorker(ctx.dir, args);
  const exec = startCli(HUB_BIN, ['exec', '--data', hub.data, '--worker', 'w7b', '--', JOB], { cwd: ctx.dir });
  const pgid = Number((await exec.waitFor(/pgid=(\d+)/))[1]);
  // The record the worker keeps (default state folder: $XDG_STATE_HOME/cla-worker/<id>) names the watchdog.
  const jobsDir = path.join(ctx.dir, '.state', 'cla-worker', 'w7b', 'jobs');
  // The record is written in the background (job-watchdog.ts): wait for it.
  const records = () => (fs.existsSync(jobsDir) ? fs.readdirSync(jobsDir).filter((name) => name.endsWith('.json')) : []);
  assert.ok(await eventually(() => records().length === 1), 'the job is recorded');
  const [recordFile] = records();
  const record = JSON.parse(fs.readFileSync(path.join(jobsDir, recordFile!), 'utf8')) as { leader: { pid: number }; watchdog: { pid: number } };
  assert.is(record.leader.pid, pgid);
  // Both die: the watchdog is frozen first, or the worker would start a new one (group-watchdog.ts), and it
  // is killed only after the worker, before it could act on the closed pipe.
  process.kill(record.watchdog.pid, 'SIGSTOP');
  worker.child.kill('SIGKILL');
  await worker.exited;
  process.kill(record.watchdog.pid, 'SIGKILL');
  await exec.exited;
  assert.is(liveMembers(pgid).length, 3, 'with no watchdog the job survives its worker');

  const again = await startWorker(ctx.dir, args);
  await again.waitFor(new RegExp(`killed 1 process group\\(s\\) left running by a previous process of this worker: job \\S+ \\(pgid ${pgid}, `));
  await groupGone(pgid);
  assert.equal(fs.readdirSync(jobsDir), [], 'the record is gone');
});

it('case 8: a worker killed during ship leaves a temp file that its next start removes', async (ctx) => {
  const hub = await startHub(ctx.dir, ['--admin-port', '0']);
  const token = await register(ctx.dir, hub.url, hub.passkey, 'w8');
  const root = path.join(ctx.dir, 'root');
  fs.mkdirSync(root);
  const args = ['--url', hub.url, '--id', 'w8', '--token', token, '--root', root];
  const worker = await startWorker(ctx.dir, args);
  const source = path.join(ctx.dir, 'source.bin');
  fs.writeFileSync(source, randomBytes(32 * 1024 * 1024));
  const ship = startCli(HUB_BIN, ['ship', '--data', hub.data, '--worker', 'w8', source, path.join(root, 'big.bin')], { cwd: ctx.dir });
  // Freeze the sender as soon as the temp file exists, so the worker is surely mid-transfer when killed.
  const temps = () => fs.readdirSync(root).filter(isTempName);
  const started = Date.now();
  while (temps().length === 0) {
    if (Date.now() - started > 30_000 || ship.child.exitCode !== null) assert.unreachable(`no temp file appeared\n${ship.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  ship.child.kill('SIGSTOP');
  worker.child.kill('SIGKILL');
  await worker.exited;
  ship.child.kill('SIGCONT');
  await ship.exited;
  const [left] = temps();
  assert.ok(left, 'the killed worker left its temp file');
  console.log(`      case 8: left ${left} (${fs.statSync(path.join(root, left!)).size} bytes)`);

  const again = await startWorker(ctx.dir, args);
  await again.waitFor(/removed 1 temp file\(s\) of transfers cut short by a previous process of this worker/);
  assert.equal(fs.readdirSync(root), [], 'nothing left in the root');
});

it('case 9: a hub killed during exec closes that job as lost when it starts again', async (ctx) => {
  const hub = await startHub(ctx.dir, ['--admin-port', '0']);
  const token = await register(ctx.dir, hub.url, hub.passkey, 'w9');
  await startWorker(ctx.dir, ['--url', hub.url, '--id', 'w9', '--token', token]);
  const exec = startCli(HUB_BIN, ['exec', '--data', hub.data, '--worker', 'w9', '--', 'echo begun; sleep 600'], { cwd: ctx.dir });
  await exec.waitFor(/begun/);
  const running = await jobs(ctx.dir, hub.data);
  assert.is(running.length, 1);
  assert.is(running[0]!.outcome, null, 'recorded as running before the crash');
  hub.process.child.kill('SIGKILL');
  await hub.process.exited;
  await exec.exited;

  const again = await startHub(ctx.dir, ['--admin-port', '0']);
  await again.process.waitFor(/closed 1 job\(s\) left running by the previous hub process as lost/);
  const after = await jobs(ctx.dir, again.data);
  assert.is(after.length, 1);
  assert.is(after[0]!.id, running[0]!.id);
  assert.is(after[0]!.outcome, 'lost');
  assert.ok(after[0]!.finishedAt !== null);
});

it('case 10: a cla-hub fetch killed by SIGKILL leaves a temp file that the next fetch removes', async (ctx) => {
  if (process.platform !== 'linux') return;
  const hub = await startHub(ctx.dir, ['--admin-port', '0']);
  const token = await register(ctx.dir, hub.url, hub.passkey, 'w10');
  const root = path.join(ctx.dir, 'root');
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, 'big.bin'), randomBytes(32 * 1024 * 1024));
  const worker = await startWorker(ctx.dir, ['--url', hub.url, '--id', 'w10', '--token', token, '--root', root]);
  const out = path.join(ctx.dir, 'out');
  fs.mkdirSync(out);
  const fetch = startCli(HUB_BIN, ['fetch', '--data', hub.data, '--worker', 'w10', path.join(root, 'big.bin'), path.join(out, 'big.bin')], { cwd: ctx.dir });
  // Freeze the sender as soon as the temp file exists, so the fetch is surely mid-transfer when killed.
  const temps = () => fs.readdirSync(out).filter(isTempName);
  while (temps().length === 0) {
    if (fetch.child.exitCode !== null) assert.unreachable(`the fetch ended before its temp file appeared\n${fetch.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  worker.child.kill('SIGSTOP');
  fetch.child.kill('SIGKILL');
  await fetch.exited;
  worker.child.kill('SIGCONT');
  const [left] = temps();
  assert.ok(left, 'the killed fetch left its temp file');
  assert.not.ok(fs.existsSync(path.join(out, 'big.bin')), 'and no target');
  const records = path.join(ctx.dir, '.state', 'cla-hub', 'fetches');
  assert.is(fs.readdirSync(records).length, 1, 'its record names it');

  const again = await runCli(HUB_BIN, ['fetch', '--data', hub.data, '--worker', 'w10', path.join(root, 'big.bin'), path.join(out, 'copy.bin')], { cwd: ctx.dir });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, `removed ${path.join(out, left!)}, the temp file of a fetch to ${path.join(out, 'big.bin')} cut short`);
  assert.equal(fs.readdirSync(out), ['copy.bin'], 'the leftover is gone, the new fetch is there');
  assert.equal(fs.readdirSync(records), [], 'no record is left');
});

it.run();
