/**
 * Issue 11, case 5: while another process swaps a folder under the worker's `--root` between a real folder
 * and a symlink that points outside, ships into that folder must never put a byte (nor a temp file, nor a
 * folder) outside the root. Real hub and worker processes; the swapper is a third process looping as fast
 * as it can. Each ship either lands inside the root or fails; the outside folder must stay empty.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { adminTokenFile } from '../../src/hub/hub-record.ts';
import { shipFile } from '../../src/hub/transfer.ts';
import { WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir } from './processes.ts';

const it = suite('transfer race');

/** Swaps `sub` between an empty real folder and a symlink to `outside`, forever, ignoring every error. */
const SWAPPER = `
const fs = require('node:fs');
const [sub, outside] = process.argv.slice(1);
process.stdout.write('swapping\\n');
for (;;) {
  try { fs.rmSync(sub, { recursive: true, force: true }); } catch {}
  try { fs.mkdirSync(sub); } catch {}
  try { fs.rmSync(sub, { recursive: true, force: true }); } catch {}
  try { fs.symlinkSync(outside, sub); } catch {}
}`;

it('ships into a folder swapped with a symlink to outside the root never write outside it', async () => {
  const { dir: made, cleanup } = tempDir('cla-transfer-race-');
  const dir = fs.realpathSync(made);
  const root = path.join(dir, 'root');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  const sub = path.join(root, 'sub');
  const local = path.join(dir, 'small.bin');
  fs.writeFileSync(local, Buffer.alloc(4096, 7));
  let client: AdminClient | undefined;
  const swapper = spawn(process.execPath, ['-e', SWAPPER, sub, outside], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const hub = await startHub(dir);
    const reg = await runCli(WORKER_BIN, ['register', '--url', hub.url, '--passkey', hub.passkey, '--id', 'racer'], { cwd: dir });
    assert.is(reg.code, 0, reg.stderr);
    const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
    await startWorker(dir, ['--url', hub.url, '--id', 'racer', '--token', token, '--root', root]);
    await new Promise((resolve) => swapper.stdout.once('data', resolve));
    client = await AdminClient.connect(hub.url, fs.readFileSync(adminTokenFile(hub.data), 'utf8').trim());
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 200; i += 1) {
      // Alternate a file right in the swapped folder and one in a folder below it (mkdir on the way).
      const remote = i % 2 ? path.join(sub, `f-${i}.bin`) : path.join(sub, 'deeper', `f-${i}.bin`);
      const outcome = await shipFile(client, { worker: 'racer' }, local, remote).then(
        () => 'ok',
        (error: unknown) => (error instanceof ClaError ? error.code : String(error)),
      );
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    swapper.kill('SIGKILL');
    const found = fs.readdirSync(outside, { recursive: true }) as string[];
    assert.equal(found, [], `written outside the root (${JSON.stringify(Object.fromEntries(outcomes))}): ${found.slice(0, 10).join(', ')}`);
    // The race was really run: some ships were refused or failed on the swap, not all went through.
    assert.ok((outcomes.get('ok') ?? 0) < 200, `outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  } finally {
    swapper.kill('SIGKILL');
    client?.close();
    await stopAll();
    cleanup();
  }
});

it.run();
