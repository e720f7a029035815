/**
 * Issue 11, "crashes leave nothing behind", with real processes killed by SIGKILL:
 * - case 9: a hub killed during an `exec` restarts and closes that job's record as `lost`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, WORKER_BIN, runCli, startCli, startHub, startWorker, stopAll, tempDir } from './processes.ts';

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

it.run();
