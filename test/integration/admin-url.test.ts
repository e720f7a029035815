/**
 * The CLI must not guess the admin API's default port (8734) for a hub that runs without its admin HTTP
 * listener: another hub on the machine may hold that port, and the CLI would then manage the wrong hub
 * (issue 11, the `integration/daemon` failure). Since the control plane (issue 8) every command goes over
 * the hub's own websocket, found through the address and hub id the running hub recorded, so a hub started
 * with `--no-admin` is still managed, and nothing listens on, or is asked at, the admin port.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, runCli, startHub, stopAll, tempDir } from './processes.ts';

test('a hub without its admin API: `cla-hub workers` reaches it through its recorded websocket, not a default port', async () => {
  const { dir, cleanup } = tempDir('cla-admin-url-');
  try {
    const hub = await startHub(dir, ['--no-admin']);
    const list = await runCli(HUB_BIN, ['workers', 'list', '--json', '--data', hub.data], { cwd: dir });
    assert.is(list.code, 0, list.stderr);
    assert.equal(JSON.parse(list.stdout), [], 'no workers yet');
    assert.not.match(list.stderr, /8734/);
    await hub.process.stop();
  } finally {
    await stopAll();
    cleanup();
  }
});

test.run();
