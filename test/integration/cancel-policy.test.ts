/**
 * Cancel and policy with real processes: Ctrl-C on `cla-hub exec` stops the remote process tree while
 * its last output still arrives; a worker's `--deny`/`--allow` refuse verbs with POLICY_DENIED.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, WORKER_BIN, runCli, startCli, startHub, startWorker, stopAll, tempDir, type RunningHub } from './processes.ts';

const it = suite<{ dir: string; cleanup: () => void; hub: RunningHub }>('cancel-policy');

it.before(async (ctx) => {
  Object.assign(ctx, tempDir());
  ctx.hub = await startHub(ctx.dir);
});

it.after(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

async function register(ctx: { dir: string; hub: RunningHub }, id: string): Promise<string> {
  const out = await runCli(WORKER_BIN, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', id], { cwd: ctx.dir });
  assert.is(out.code, 0, out.stderr);
  return /Registration token: ([0-9a-f]{32})/.exec(out.stdout)![1]!;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed orphan may linger as a zombie until reaped: it is dead all the same.
  try {
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

it('Ctrl-C on cla-hub exec kills the remote process tree and the trap output still arrives', async (ctx) => {
  const token = await register(ctx, 'canceller');
  await startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', 'canceller', '--token', token, '--tags', 'cancel']);
  const pidFile = path.join(ctx.dir, 'grandchild.pid');
  // The shell traps INT, starts a grandchild sleep, and reports its pid.
  const script = `trap 'echo trapped; exit 3' INT; sleep 300 & echo $! > ${pidFile}; echo ready; wait`;
  const exec = startCli(HUB_BIN, ['exec', '--data', ctx.hub.data, '--tags', 'cancel', '--', script], { cwd: ctx.dir });
  await exec.waitFor(/ready/);
  const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(alive(grandchild), 'the grandchild runs before the cancel');
  exec.child.kill('SIGINT');
  const exit = await exec.exited;
  assert.match(exec.stdout, /trapped/);
  assert.match(exec.stderr, /cancelling the remote command/);
  assert.is(exit.code, 3);
  for (let i = 0; i < 200 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 25));
  assert.not.ok(alive(grandchild), 'the grandchild is gone after the cancel');
});

it('a denied verb is refused with POLICY_DENIED and the command never runs', async (ctx) => {
  const token = await register(ctx, 'noexec');
  await startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', 'noexec', '--token', token, '--tags', 'locked', '--deny', 'exec,eval']);
  const marker = path.join(ctx.dir, 'ran');
  const out = await runCli(HUB_BIN, ['exec', '--data', ctx.hub.data, '--worker', 'noexec', '--', `touch ${marker}`], { cwd: ctx.dir });
  assert.is(out.code, 125);
  assert.match(out.stderr, /does not allow `exec`.*POLICY_DENIED/);
  assert.not.ok(fs.existsSync(marker));
});

it('an unknown verb in --allow is a usage error naming the verbs', async (ctx) => {
  const out = await runCli(WORKER_BIN, ['run', '--url', ctx.hub.url, '--id', 'x', '--token', 'y', '--allow', 'exec,teleport'], { cwd: ctx.dir });
  assert.is(out.code, 2);
  assert.match(out.stderr, /verbs among exec, eval, ship, fetch, probe, got `teleport`/);
});

it.run();
