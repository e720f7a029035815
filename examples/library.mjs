// Use as a library: a hub, a worker and an admin client in one process (README "Use as a library").
// Run it with `node examples/library.mjs [DATA_DIR]` once cla-worker is installed; test/integration/
// library-example.test.ts runs this very file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AdminClient, createHub, createWorker, registerWorker } from 'cla-worker';

const dir = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cla-example-'));

// 1. A hub on its own SQLite file, on a free port.
const hub = await createHub({ data: path.join(dir, 'hub.sqlite'), port: 0 });
const { url } = await hub.start();

// 2. Register a worker with the default project's passkey, then run it in this process.
const { id, token } = await registerWorker({ url, passkey: hub.defaultProject.passkey });
const worker = await createWorker({ id, token, url, tags: ['example'] });
const connected = new Promise((resolve) => {
  const sub = hub.hub.changes$.subscribe((change) => {
    if (change.type === 'connected' && change.worker === id) resolve(sub.unsubscribe());
  });
});
const exited = worker.run();
await connected;

// 3. An admin client runs a command on any worker tagged `example` and streams its output.
const admin = await AdminClient.connect(url, hub.adminToken);
let output = '';
let code;
await new Promise((resolve, reject) => {
  admin.run({ tags: ['example'] }, { kind: 'exec', cmd: 'echo hello from the worker' }).subscribe({
    next: (event) => {
      if (event.type === 'output') output += Buffer.from(event.data).toString();
      if (event.type === 'exit') code = event.code;
    },
    error: reject,
    complete: resolve,
  });
});
console.log(`exit ${code}: ${output.trim()}`);

// 4. Shut down in reverse order.
admin.close();
worker.stop('example done');
await exited;
await hub.stop();
