/**
 * `createHub({ store: 'memory' })` (issue 9): a whole hub (registration, a worker, a job, the admin
 * token) on the in-memory registry store, with no data file written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { filter, firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { createHub, createWorker, registerWorker } from '../../src/index.ts';
import { tempDir } from './processes.ts';

const memory = suite('memory store hub');

memory('registers a worker, runs a job and records it, all in memory; no data file is written', async () => {
  const { dir, cleanup } = tempDir();
  const data = path.join(dir, 'hub.sqlite');
  const hub = await createHub({ store: 'memory', data, port: 0 });
  try {
    assert.is(hub.store, 'memory');
    const { url } = await hub.start();
    const { id, token } = await registerWorker({ url, passkey: hub.defaultProject.passkey! });
    const worker = await createWorker({ id, token, url });
    const connected = firstValueFrom(hub.hub.changes$.pipe(filter((change) => change.type === 'connected' && change.worker === id)));
    const exited = worker.run();
    await connected;
    const events = await lastValueFrom(hub.hub.run({ target: { worker: id }, job: { kind: 'exec', cmd: 'true' } }).pipe(toArray()));
    assert.equal(events.at(-1), { type: 'exit', code: 0, signal: null, timedOut: false, cancelled: false, durationMs: (events.at(-1) as { durationMs: number }).durationMs });
    const [job] = await hub.registry.recentJobs(1);
    assert.equal([job?.workerId, job?.outcome, job?.owner], [id, 'ok', hub.hub.id]);
    assert.is((await hub.registry.getWorker(id))?.jobsRun, 1);
    worker.stop();
    await exited;
    assert.not.ok(fs.existsSync(data), 'no SQLite file');
    assert.equal(fs.readdirSync(dir), ['hub.sqlite.admin-token'], 'only the admin token file, since `data` was given');
  } finally {
    await hub.stop();
    cleanup();
  }
});

memory('without `data`, nothing at all is written; each start is a new hub', async () => {
  const before = fs.existsSync(path.resolve('cla-hub.sqlite.admin-token'));
  const first = await createHub({ store: 'memory', port: 0 });
  const second = await createHub({ store: 'memory', port: 0 });
  try {
    assert.is(fs.existsSync(path.resolve('cla-hub.sqlite.admin-token')), before);
    assert.is(first.defaultProject.created, true);
    assert.is(second.defaultProject.created, true);
    assert.is.not(first.adminToken, second.adminToken);
    assert.ok(await first.registry.checkAdminToken(first.adminToken));
    assert.not.ok(await second.registry.checkAdminToken(first.adminToken), 'nothing shared between the two');
  } finally {
    await first.stop();
    await second.stop();
  }
});

memory.run();
