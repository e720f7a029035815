/**
 * Issue 11, secrets on the local machine, with real processes:
 * - case 13: `cla-hub start --psk KEY` and `cla-worker run --token T` do not leave the secret in
 *   /proc/PID/cmdline once started; `--psk-file`, `--token-file` and `CLA_WORKER_TOKEN_FILE` work, and a
 *   secret given in the environment does not reach the jobs' environment.
 * - case 14: an existing `--record` file, data file or admin-token file with group/other bits is
 *   tightened to owner-only, with a warning, before the process writes or reads secrets there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir } from './processes.ts';

const it = suite<{ dir: string; cleanup: () => void }>('secret-files');

it.before.each((ctx) => {
  Object.assign(ctx, tempDir());
});

it.after.each(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

it('case 14: a 0644 recording, data file and admin-token file are tightened to 0600 with a warning', async (ctx) => {
  const first = await startHub(ctx.dir, ['--admin-port', '0']);
  await first.process.stop();
  const token = `${first.data}.admin-token`;
  const hubRecord = path.join(ctx.dir, 'hub.rec');
  const workerRecord = path.join(ctx.dir, 'worker.rec');
  for (const file of [hubRecord, workerRecord]) fs.writeFileSync(file, '');
  for (const file of [first.data, token, hubRecord, workerRecord]) fs.chmodSync(file, 0o644);

  const hub = await startHub(ctx.dir, ['--admin-port', '0', '--record', hubRecord]);
  for (const file of [first.data, token, hubRecord]) {
    assert.is(modeOf(file), 0o600, `${file} is ${modeOf(file).toString(8)}`);
    assert.match(hub.process.stdout + hub.process.stderr, `${file} had mode 0644, readable by other users; changed it to 0600`);
  }
  const reg = await runCli(WORKER_BIN, ['register', '--url', hub.url, '--passkey', hub.passkey, '--id', 'w14'], { cwd: ctx.dir });
  const workerToken = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  const worker = await startWorker(ctx.dir, ['--url', hub.url, '--id', 'w14', '--token', workerToken, '--record', workerRecord]);
  assert.is(modeOf(workerRecord), 0o600);
  assert.match(worker.stdout + worker.stderr, `${workerRecord} had mode 0644, readable by other users; changed it to 0600`);
  // The recordings received frames, and still nobody else can read them.
  assert.ok(fs.statSync(workerRecord).size > 0);
  assert.is(modeOf(hubRecord), 0o600);
});

const cmdline = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0+/g, ' ').trim();

it('case 13: --psk and --token are gone from /proc/PID/cmdline; the -file options and env work', async (ctx) => {
  if (process.platform !== 'linux') return;
  const psk = 'hub-psk-0123456789abcdef';
  const hub = await startHub(ctx.dir, ['--admin-port', '0', '--psk', psk]);
  const hubLine = cmdline(hub.process.child.pid!);
  assert.not.match(hubLine, psk);
  assert.match(hubLine, /cla-hub start .*--psk \*\*\*/);

  const reg = await runCli(WORKER_BIN, ['register', '--url', hub.url, '--passkey', hub.passkey, '--id', 'w13'], { cwd: ctx.dir });
  const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  const byFlag = await startWorker(ctx.dir, ['--url', hub.url, '--id', 'w13', `--token=${token}`]);
  const workerLine = cmdline(byFlag.child.pid!);
  assert.not.match(workerLine, token);
  assert.match(workerLine, /cla-worker run .*--token=\*\*\*/);
  await byFlag.stop();

  // The token from a file (flag), then from the environment: a job sees neither in its environment.
  const tokenFile = path.join(ctx.dir, 'token');
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const byFile = await startWorker(ctx.dir, ['--url', hub.url, '--id', 'w13', '--token-file', tokenFile]);
  assert.not.match(cmdline(byFile.child.pid!), token);
  await byFile.stop();
  const byEnv = await startWorker(ctx.dir, ['--url', hub.url, '--id', 'w13'], { CLA_WORKER_TOKEN: token });
  const env = await runCli(HUB_BIN, ['exec', '--data', hub.data, '--worker', 'w13', '--', 'env'], { cwd: ctx.dir });
  assert.is(env.code, 0, env.stderr);
  assert.match(env.stdout, /PATH=/);
  assert.not.match(env.stdout, token, 'the worker token leaked into a job');
  await byEnv.stop();

  // A psk worker with the key in a file (env CLA_WORKER_PSK_FILE): admitted by the hub's --psk.
  const pskFile = path.join(ctx.dir, 'psk');
  fs.writeFileSync(pskFile, psk, { mode: 0o600 });
  const pskWorker = await startWorker(ctx.dir, ['--url', hub.url, '--subscriber-id', 'psk13'], { CLA_WORKER_PSK_FILE: pskFile });
  assert.not.match(cmdline(pskWorker.child.pid!), psk);
  await pskWorker.stop();
  await hub.process.stop();

  // The hub's key from --psk-file admits the same worker.
  const again = await startHub(ctx.dir, ['--admin-port', '0', '--psk-file', pskFile]);
  const admitted = await startWorker(ctx.dir, ['--url', again.url, '--subscriber-id', 'psk13', '--psk-file', pskFile]);
  await admitted.stop();
  // Both a secret and its file: refused as usage.
  const both = await runCli(WORKER_BIN, ['run', '--url', again.url, '--psk', psk, '--psk-file', pskFile], { cwd: ctx.dir });
  assert.is(both.code, 2, both.stderr);
  assert.match(both.stderr, /only one of `--psk` and `--psk-file`/);
});

it.run();
