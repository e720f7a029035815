#!/usr/bin/env node
// `npm run build`: compiles src/ and machines/ to dist/ (JS + .d.ts; tsc rewrites the `.ts` import
// extensions) and copies what tsc does not: the eval runner scripts, the dashboard's static files and the
// built-in workflows (found at ../../../workflows from dist/src/hub/actions, as from the sources).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, 'dist');
fs.rmSync(dist, { recursive: true, force: true });

const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

const copy = (from, to = from) => fs.cpSync(path.join(root, from), path.join(dist, to), { recursive: true });
for (const file of ['eval-runner.mjs', 'eval-runner.d.mts', 'eval-plain.mjs', 'eval-plain.d.mts']) copy(path.join('src', 'worker', 'ops', file));
copy(path.join('src', 'hub', 'dashboard'));
copy('workflows');
for (const bin of ['hub.js', 'worker.js', 'resotoworker.js']) fs.chmodSync(path.join(dist, 'src', 'cli', bin), 0o755);
console.error(`built ${path.relative(process.cwd(), dist) || dist}`);
