/**
 * The CLI must not guess the admin API's default port (8734) for a hub that runs without its admin API:
 * another hub on the machine may hold that port, and the CLI would then manage the wrong hub (issue 11,
 * the `integration/daemon` failure).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, runCli, startHub, stopAll, tempDir } from './processes.ts';

test('a hub without its admin API: `cla-hub workers` says so instead of trying the default port', async () => {
  const { dir, cleanup } = tempDir('cla-admin-url-');
  try {
    const hub = await startHub(dir, ['--no-admin']);
    const list = await runCli(HUB_BIN, ['workers', 'list', '--data', hub.data], { cwd: dir });
    assert.is.not(list.code, 0);
    assert.match(list.stderr, /runs without its admin API .*--admin-port PORT .*\[CONFIG_MISSING\]/);
    await hub.process.stop();
  } finally {
    await stopAll();
    cleanup();
  }
});

test.run();
