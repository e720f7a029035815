/**
 * The README's "Use as a library" example (examples/library.mjs) runs as written: `import ... from
 * 'cla-worker'` resolves to this package's TypeScript sources through the `cla-worker:source` export
 * condition; test/integration/package-smoke.test.ts runs the same file against the packed tarball.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, cleanEnv, tempDir } from './processes.ts';

const example = suite('library example');

example('examples/library.mjs starts a hub and a worker and runs a command through an admin client', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=cla-worker:source', path.join(ROOT, 'examples', 'library.mjs'), dir], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout, 'exit 0: hello from the worker\n');
  } finally {
    cleanup();
  }
});

example.run();
