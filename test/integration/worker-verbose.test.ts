/**
 * `cla-worker run --verbose` logs the connection steps and each job's start and end at debug level
 * (issue 12), so a newcomer can see where a worker is stuck.
 */
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir } from './processes.ts';

const verbose = suite('worker --verbose');

verbose('logs dialing, hello, welcome, and job start and end', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const hub = await startHub(dir);
    const registered = await runCli(WORKER_BIN, ['register', '--url', hub.url, '--passkey', hub.passkey, '--save'], { cwd: dir });
    assert.is(registered.code, 0, registered.stderr);
    const worker = await startWorker(dir, ['--verbose', '--tags', 'v']);
    const exec = await runCli(HUB_BIN, ['exec', '--data', path.join(dir, 'hub.sqlite'), '--tags', 'v', '--', 'true'], { cwd: dir });
    assert.is(exec.code, 0, exec.stderr);
    await worker.waitFor(/"msg":"job ended"/);
    const lines = worker.stderr.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { level: number; msg: string });
    const debug = lines.filter((line) => line.level === 20).map((line) => line.msg);
    for (const step of ['dialing the hub', 'connection open; sending hello', 'welcomed by the hub', 'job ended']) assert.ok(debug.includes(step), `no debug line "${step}" in ${JSON.stringify(debug)}`);
    assert.ok(lines.some((line) => line.msg === 'job started'));
    await worker.stop();
    await hub.process.stop('SIGINT');
  } finally {
    await stopAll();
    cleanup();
  }
});

verbose.run();
