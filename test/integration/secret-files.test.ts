/**
 * Issue 11, secrets on the local machine, with real processes:
 * - case 14: an existing `--record` file, data file or admin-token file with group/other bits is
 *   tightened to owner-only, with a warning, before the process writes or reads secrets there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir } from './processes.ts';

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

it.run();
