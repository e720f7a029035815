/**
 * Issue 11, case 6: `cla-hub probe file_exists` of a symlink inside a worker's `--root` that points
 * outside answers the same whether the outside target exists or not (PATH_NOT_ALLOWED both times), so a
 * hub user learns nothing about paths outside the roots. Real hub, real worker, real links.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir, type RunningHub } from './processes.ts';

const it = suite<{ dir: string; cleanup: () => void; hub: RunningHub }>('probe-outside');

it.before(async (ctx) => {
  Object.assign(ctx, tempDir());
  ctx.dir = fs.realpathSync(ctx.dir);
  ctx.hub = await startHub(ctx.dir);
});

it.after(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

it('a link out of the root gives one answer whether its target exists or not', async (ctx) => {
  const root = path.join(ctx.dir, 'root');
  const outside = path.join(ctx.dir, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret'), 'x');
  fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'to-existing'));
  fs.symlinkSync(path.join(outside, 'no-such-file'), path.join(root, 'to-missing'));
  // A chain: a dangling link inside the root to another link that leads out.
  fs.symlinkSync(path.join(root, 'to-missing'), path.join(root, 'chain'));
  fs.writeFileSync(path.join(root, 'inside'), 'x');
  const reg = await runCli(WORKER_BIN, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', 'prober'], { cwd: ctx.dir });
  const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  await startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', 'prober', '--token', token, '--root', root]);
  const probe = (file: string) => runCli(HUB_BIN, ['probe', 'file_exists', path.join(root, file), '--data', ctx.hub.data, '--worker', 'prober'], { cwd: ctx.dir });

  const existing = await probe('to-existing');
  const missing = await probe('to-missing');
  const chain = await probe('chain');
  for (const [name, answer] of [['to-existing', existing], ['to-missing', missing], ['chain', chain]] as const) {
    assert.is(answer.code, 125, `${name}: ${answer.stdout}${answer.stderr}`);
    assert.match(answer.stderr, /\[PATH_NOT_ALLOWED\]/, name);
    assert.is(answer.stdout, '', name);
  }
  // Inside the root the probe still works.
  assert.is((await probe('inside')).stdout, 'true\n');
  assert.is((await probe('nothing')).stdout, 'false\n');
});

it.run();
