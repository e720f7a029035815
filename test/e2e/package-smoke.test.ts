/**
 * The package as a user gets it: `npm pack` (prepack builds dist/), install the tarball into an empty
 * folder, then drive a real hub and worker with plain `node` (no tsx installed) and run the README's
 * library example against the installed package.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, cleanEnv, tempDir, stopAll } from '../integration/processes.ts';
import { driveHubAndWorker, runProgram, type Program } from './drive-programs.ts';

const smoke = suite<{ dir: string; cleanup: () => void; installed: string }>('package smoke');

function npm(args: string[], cwd: string): string {
  const result = spawnSync('npm', args, { cwd, env: cleanEnv({ npm_config_update_notifier: 'false' }), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.is(result.status, 0, `npm ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

smoke.before((ctx) => {
  Object.assign(ctx, tempDir('cla-pack-'));
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', ctx.dir], ROOT)) as Array<{ filename: string }>;
  const tarball = path.join(ctx.dir, path.basename(packed[0]!.filename));
  const app = path.join(ctx.dir, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'smoke-app', private: true, type: 'module' }));
  // --ignore-scripts: better-sqlite3 would compile for a minute; the addon this checkout built for the
  // same Node is copied instead (CI rebuilds it per Node version before the tests run).
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], app);
  const addon = path.join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  fs.mkdirSync(path.dirname(path.join(app, addon)), { recursive: true });
  fs.copyFileSync(path.join(ROOT, addon), path.join(app, addon));
  ctx.installed = app;
});

smoke.after(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

smoke('the tarball holds built JavaScript, typings and the runtime assets, and needs no tsx', (ctx) => {
  const pkg = path.join(ctx.installed, 'node_modules', 'cla-worker');
  for (const file of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/hub.js', 'dist/src/worker/ops/eval-runner.mjs', 'dist/src/hub/dashboard/index.html', 'dist/workflows', 'examples/library.mjs']) {
    assert.ok(fs.existsSync(path.join(pkg, file)), `missing ${file}`);
  }
  assert.not.ok(fs.existsSync(path.join(ctx.installed, 'node_modules', 'tsx')), 'tsx was installed');
  assert.not.ok(fs.existsSync(path.join(pkg, 'src')), 'TypeScript sources were packed');
  const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
  assert.is(manifest.exports['.'].types, './dist/src/index.d.ts');
});

smoke('plain node drives the installed cla-hub and cla-worker: start, register, run, exec, eval, ship, fetch', async (ctx) => {
  const bin = (name: string): Program => ({ command: process.execPath, args: [path.join(ctx.installed, 'node_modules', '.bin', name)], env: cleanEnv() });
  await driveHubAndWorker(bin('cla-hub'), bin('cla-worker'), fs.mkdtempSync(path.join(ctx.dir, 'drive-')), { eval: true, transfer: true, daemon: true });
});

smoke("the README's library example runs against the installed package", async (ctx) => {
  const example = path.join(ctx.installed, 'node_modules', 'cla-worker', 'examples', 'library.mjs');
  const result = await runProgram({ command: process.execPath, args: [], env: cleanEnv() }, [example, fs.mkdtempSync(path.join(ctx.dir, 'lib-'))], ctx.installed);
  assert.is(result.code, 0, result.stderr);
  assert.is(result.stdout, 'exit 0: hello from the worker\n');
});

smoke('a TypeScript consumer type-checks against the installed typings (NodeNext)', (ctx) => {
  const dir = fs.mkdtempSync(path.join(ctx.installed, 'ts-'));
  fs.writeFileSync(
    path.join(dir, 'consumer.ts'),
    [
      "import { createHub, createWorker, parseHubOptions, type CreateHubOptions } from 'cla-worker';",
      "const options: CreateHubOptions = { port: 0, data: 'hub.sqlite', heartbeatMs: 5000 };",
      'const port: number = parseHubOptions(options).port;',
      "// @ts-expect-error `port` is a number",
      "createHub({ port: '8733' });",
      "export const made = [port, createHub, createWorker({ id: 'w', token: 't', concurrency: 2 })];",
      '',
    ].join('\n'),
  );
  const tsconfig = { compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')] }, files: ['consumer.ts'] };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  const checked = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
});

smoke.run();
