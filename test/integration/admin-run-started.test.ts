/**
 * `run.started: false` (protocol.md, issue 13): the hub does not forward the job's `started` to an admin
 * client that asked so, and still does to one that did not. A hub, a worker and an admin client in this
 * process, on real websockets (as examples/library.mjs assembles them).
 */
import { lastValueFrom, map, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { createHub } from '../../src/hub/create-hub.ts';
import { createWorker } from '../../src/worker/create-worker.ts';
import { registerWorker } from '../../src/worker/registration.ts';

test('an admin run with started: false gets dispatched, output and exit but no started; without it, started too', async () => {
  const hub = await createHub({ store: 'memory', port: 0 });
  let admin: AdminClient | undefined;
  let worker: Awaited<ReturnType<typeof createWorker>> | undefined;
  let exited: Promise<unknown> | undefined;
  try {
    const { url } = await hub.start();
    const { id, token } = await registerWorker({ url, passkey: hub.defaultProject.passkey! });
    worker = await createWorker({ id, token, url });
    const connected = new Promise<void>((resolve) => {
      const sub = hub.hub.changes$.subscribe((change) => {
        if (change.type === 'connected' && change.worker === id) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    exited = worker.run();
    await connected;
    admin = await AdminClient.connect(url, hub.adminToken);
    const types = (started?: boolean) =>
      lastValueFrom(admin!.run({ worker: id }, { kind: 'exec', cmd: ['echo', 'hi'] }, started === undefined ? {} : { started }).pipe(map((event) => event.type), toArray()));
    assert.equal(await types(false), ['dispatched', 'output', 'exit']);
    assert.equal(await types(), ['dispatched', 'started', 'output', 'exit']);
    assert.equal(await types(true), ['dispatched', 'started', 'output', 'exit']);
  } finally {
    admin?.close();
    worker?.stop('test done');
    await exited;
    await hub.stop();
  }
});

test.run();
