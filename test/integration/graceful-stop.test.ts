/**
 * SIGTERM on a worker with a job running: it stops taking work, lets the job finish (within its grace
 * period), tells the hub (`bye`), and exits 0; the job's output and exit code reach the client.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, WORKER_BIN, runCli, startCli, startHub, startWorker, stopAll, tempDir, type RunningHub } from './processes.ts';

const it = suite<{ dir: string; cleanup: () => void; hub: RunningHub }>('graceful-stop');

it.before(async (ctx) => {
  Object.assign(ctx, tempDir());
  ctx.hub = await startHub(ctx.dir);
});

it.after(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

it('SIGTERM lets the running job finish, then the worker leaves and exits 0', async (ctx) => {
  const reg = await runCli(WORKER_BIN, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'leaver'], { cwd: ctx.dir });
  const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  const worker = await startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', 'leaver', '--token', token, '--tags', 'leaving']);
  const exec = startCli(HUB_BIN, ['exec', '--data', ctx.hub.data, '--worker', 'leaver', '--', 'echo begun; sleep 1; echo finished'], { cwd: ctx.dir });
  await exec.waitFor(/begun/);
  worker.child.kill('SIGTERM');
  const execExit = await exec.exited;
  assert.is(execExit.code, 0, exec.stderr);
  assert.is(exec.stdout, 'begun\nfinished\n');
  const workerExit = await worker.exited;
  assert.is(workerExit.code, 0, worker.stderr);
  assert.match(worker.stdout, /stopped: SIGTERM received/);
  // Gone from the hub: a new job finds no worker instead of waiting for it.
  const after = await runCli(HUB_BIN, ['exec', '--data', ctx.hub.data, '--tags', 'leaving', '--', 'true'], { cwd: ctx.dir });
  assert.is(after.code, 125);
  assert.match(after.stderr, /NO_WORKER/);
});

it.run();
