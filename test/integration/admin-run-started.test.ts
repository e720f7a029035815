/**
 * `run.started: false` (protocol.md, issue 13): the hub does not forward the job's `started` to an admin
 * client that asked so, and still does to one that did not; it passes the wish on to the worker
 * (`exec.started: false`), which then does not send `started` at all. A hub, a worker and an admin client
 * in this process, on real websockets (as examples/library.mjs assembles them).
 */
import { lastValueFrom, map, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { createHub } from '../../src/hub/create-hub.ts';
import { decodeFrame } from '../../src/protocol/codec.ts';
import type { Frame } from '../../src/protocol/frames.ts';
import type { FrameTap } from '../../src/transport/transport.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import { createWorker } from '../../src/worker/create-worker.ts';
import { registerWorker } from '../../src/worker/registration.ts';

/** What a test needs of a worker: `createWorker`'s and `WorkerAgent`'s own methods. */
interface RunnableWorker {
  run(): Promise<unknown>;
  stop(reason: string): void;
}

/** Runs `body` with a hub, a registered worker made by `makeWorker`, connected, and an admin client. */
async function withWorker(
  makeWorker: (credentials: { id: string; token: string; url: string }) => Promise<RunnableWorker>,
  body: (admin: AdminClient, workerId: string) => Promise<void>,
): Promise<void> {
  const hub = await createHub({ store: 'memory', port: 0 });
  let admin: AdminClient | undefined;
  let worker: RunnableWorker | undefined;
  let exited: Promise<unknown> | undefined;
  try {
    const { url } = await hub.start();
    const { id, token } = await registerWorker({ url, passkey: hub.defaultProject.passkey! });
    worker = await makeWorker({ id, token, url });
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
    await body(admin, id);
  } finally {
    admin?.close();
    worker?.stop('test done');
    await exited;
    await hub.stop();
  }
}

test('an admin run with started: false gets dispatched, output and exit but no started; without it, started too', async () => {
  await withWorker(
    (credentials) => createWorker(credentials),
    async (admin, id) => {
      const types = (started?: boolean) =>
        lastValueFrom(admin.run({ worker: id }, { kind: 'exec', cmd: ['echo', 'hi'] }, started === undefined ? {} : { started }).pipe(map((event) => event.type), toArray()));
      assert.equal(await types(false), ['dispatched', 'output', 'exit']);
      assert.equal(await types(), ['dispatched', 'started', 'output', 'exit']);
      assert.equal(await types(true), ['dispatched', 'started', 'output', 'exit']);
    },
  );
});

test('a worker told `exec.started: false` sends no `started`; its busy state leaves with the exit', async () => {
  // Before (exec10), the hub did not pass the wish on and the worker sent `started` with busy, in a write of their own.
  const frames: Array<{ direction: string; frame: Frame }> = [];
  const tap: FrameTap = {
    frame: (_connection, direction, bytes) => frames.push({ direction, frame: decodeFrame(bytes) }),
    event: () => undefined,
  };
  await withWorker(
    async (credentials) => new WorkerAgent({ ...credentials, tap }),
    async (admin, id) => {
      const job = async (started?: false) => {
        const events = await lastValueFrom(admin.run({ worker: id }, { kind: 'exec', cmd: ['echo', 'hi'] }, started === undefined ? {} : { started }).pipe(toArray()));
        const dispatched = events.find((event) => event.type === 'dispatched');
        assert.ok(dispatched?.type === 'dispatched');
        const exec = frames.find((f) => f.direction === 'in' && f.frame.t === 'exec' && f.frame.id === dispatched.job);
        const sent = frames.filter((f) => f.direction === 'out' && ('re' in f.frame ? f.frame.re === dispatched.job : f.frame.t === 'state'));
        frames.length = 0;
        return { exec: exec?.frame as { started?: boolean } | undefined, sent: sent.map((f) => (f.frame.t === 'state' ? `state ${f.frame.value}` : f.frame.t)) };
      };
      await job(); // the worker's first job: its state frames from welcome are behind it
      const quiet = await job(false);
      assert.is(quiet.exec?.started, false, 'the hub passes `started: false` on in `exec`');
      assert.equal(quiet.sent, ['state connected.busy', 'output', 'exit', 'state connected.idle']);
      const told = await job();
      assert.is(told.exec?.started, undefined);
      assert.equal(told.sent, ['started', 'state connected.busy', 'output', 'exit', 'state connected.idle']);
    },
  );
});

test('an admin cancel stops a run (the session cancels through the run\'s own cancel, no AbortController)', async () => {
  await withWorker(
    (credentials) => createWorker(credentials),
    async (admin, id) => {
      const abort = new AbortController();
      const events = await lastValueFrom(
        admin.run({ worker: id }, { kind: 'exec', cmd: ['sleep', '30'] }, { started: false, signal: abort.signal }).pipe(
          map((event) => {
            if (event.type === 'dispatched') abort.abort();
            return event.type === 'exit' ? `exit cancelled=${event.cancelled}` : event.type;
          }),
          toArray(),
        ),
      );
      assert.equal(events, ['dispatched', 'exit cancelled=true']);
      abort.abort(); // a second cancel after the end changes nothing
    },
  );
});

test.run();
