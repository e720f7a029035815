// shipFile / fetchFile (src/hub/transfer.ts) against a JobRunner that runs the worker's real ship and
// fetch operations in this process, frames crossing through the codec as on a socket. Checks round trips,
// folders as fetch targets, cancellation, and that a misbehaving worker leaves no local file behind.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Observable } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { systemClock } from '../../src/clock.ts';
import { ClaError, ErrorCode, fromWireError } from '../../src/errors.ts';
import type { JobEvent } from '../../src/hub/job-events.ts';
import { fetchFile, shipFile, type JobRunner, type TransferProgress } from '../../src/hub/transfer.ts';
import { silentLogger } from '../../src/logger.ts';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { frame, type Frame } from '../../src/protocol/frames.ts';
import { startFetch } from '../../src/worker/ops/fetch.ts';
import type { JobContext, RunningJob } from '../../src/worker/ops/job.ts';
import { startShip } from '../../src/worker/ops/ship.ts';
import { isTempName, TRANSFER_CHUNK_BYTES } from '../../src/worker/ops/transfer-io.ts';
import { toWireError } from '../../src/errors.ts';
import { WorkerPolicy } from '../../src/worker/policy.ts';

const KiB = 1024;
const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
/** Through the codec, as on the wire, and on a later tick. */
const wire = (f: Frame, deliver: (f: Frame) => void) => {
  const bytes = encodeFrame(f);
  setImmediate(() => deliver(decodeFrame(bytes)));
};

interface FakeWorker {
  runner: JobRunner;
  /** Jobs started, for checks after the call. */
  jobs: RunningJob[];
  /** Rewrites worker -> hub frames (to misbehave). */
  tamper?: (f: Frame) => Frame | undefined;
}

/** A JobRunner whose "worker" is the real ship/fetch operations with an in-memory context. */
function fakeWorker(policy = new WorkerPolicy(), windowBytes = 64 * KiB): FakeWorker {
  const fake: FakeWorker = { jobs: [], runner: undefined as unknown as JobRunner };
  fake.runner = {
    run: (_target, job, options) =>
      new Observable<JobEvent>((subscriber) => {
        const id = `job-${fake.jobs.length + 1}`;
        let finished = false;
        const toHub = (raw: Frame) => {
          const f = fake.tamper ? fake.tamper(raw) : raw;
          if (!f || finished) return;
          if (f.t === 'credit') subscriber.next({ type: 'credit', bytes: f.bytes });
          else if (f.t === 'file') subscriber.next({ type: 'file', size: f.size, mode: f.mode });
          else if (f.t === 'chunk') subscriber.next({ type: 'chunk', seq: f.seq, data: f.data });
          else if (f.t === 'result') {
            finished = true;
            subscriber.next({ type: 'result', value: f.value, durationMs: f.durationMs });
            subscriber.complete();
          } else if (f.t === 'error') {
            finished = true;
            subscriber.error(fromWireError(f.error));
          }
        };
        const ctx: JobContext = {
          id,
          send: (f) => wire(f, toHub),
          bufferedBytes: () => 0,
          highWaterBytes: 1024 * KiB,
          clock: systemClock,
          log: silentLogger(),
          policy,
        };
        subscriber.next({ type: 'dispatched', worker: 'w1', job: id });
        let running: RunningJob;
        try {
          running =
            job.kind === 'ship'
              ? startShip(frame('ship', { id, path: job.path, size: job.size, sha256: job.sha256, ...(job.mode === undefined ? {} : { mode: job.mode }) }), ctx, { windowBytes })
              : job.kind === 'fetch'
                ? startFetch(frame('fetch', { id, path: job.path }), ctx)
                : (() => {
                    throw new Error('only transfers');
                  })();
        } catch (error) {
          wire(frame('error', { re: id, error: toWireError(error) }), toHub);
          return;
        }
        fake.jobs.push(running);
        options.onInput?.({
          chunk: (seq, data, sha256) => {
            wire(frame('chunk', { re: id, seq, data, ...(sha256 === undefined ? {} : { sha256 }) }), (f) => running.input(f as never));
            return Promise.resolve();
          },
          credit: (bytes) => wire(frame('credit', { re: id, bytes }), (f) => running.input(f as never)),
        });
        const cancel = () => setImmediate(() => running.cancel('cancelled by the hub'));
        options.signal?.addEventListener('abort', cancel, { once: true });
        return () => {
          options.signal?.removeEventListener('abort', cancel);
          if (!finished) cancel();
        };
      }),
  };
  return fake;
}

const lib = suite<{ dir: string }>('transfer library');
lib.before.each((ctx) => {
  ctx.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'cla-transfer-lib-')));
});
lib.after.each((ctx) => fs.rmSync(ctx.dir, { recursive: true, force: true }));

const leftovers = (dir: string) => (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => isTempName(path.basename(name)));

async function rejects(promise: Promise<unknown>, code: string): Promise<ClaError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, ClaError);
    assert.is((error as ClaError).code, code, (error as Error).message);
    return error as ClaError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

lib('ship then fetch round trip: same bytes, same sha256 on both ends, progress reported', async ({ dir }) => {
  const fake = fakeWorker();
  const local = path.join(dir, 'local.bin');
  const data = randomBytes(3 * 1024 * KiB + 17);
  fs.writeFileSync(local, data);
  const phases = new Set<string>();
  let lastSent = 0;
  const onProgress = (p: TransferProgress) => {
    phases.add(p.phase);
    if (p.phase === 'send') lastSent = p.bytes;
  };
  const shipped = await shipFile(fake.runner, { worker: 'w1' }, local, path.join(dir, 'remote', 'copy.bin'), { mode: 0o600, onProgress });
  assert.is(shipped.worker, 'w1');
  assert.is(shipped.bytes, data.length);
  assert.is(shipped.sha256, sha(data));
  assert.is(shipped.remotePath, path.join(dir, 'remote', 'copy.bin'));
  // One pass over the file: it is hashed while it is sent (issue 13), so there is no 'hash' phase.
  assert.equal([...phases].sort(), ['send']);
  assert.is(lastSent, data.length);
  assert.is(fs.statSync(shipped.remotePath).mode & 0o777, 0o600);

  const back = path.join(dir, 'back.bin');
  const fetched = await fetchFile(fake.runner, { worker: 'w1' }, shipped.remotePath, back, { windowBytes: 128 * KiB });
  assert.is(fetched.sha256, sha(data));
  assert.is(fetched.localPath, back);
  assert.ok(fs.readFileSync(back).equals(data));
  assert.is(fs.statSync(back).mode & 0o777, 0o600, 'the remote permission bits');
  assert.equal(leftovers(dir), []);
});

lib('fetch into an existing folder keeps the remote name; empty files work both ways', async ({ dir }) => {
  const fake = fakeWorker();
  const empty = path.join(dir, 'empty.txt');
  fs.writeFileSync(empty, '');
  const shipped = await shipFile(fake.runner, {}, empty, path.join(dir, 'remote', 'empty.txt'));
  assert.is(shipped.bytes, 0);
  fs.mkdirSync(path.join(dir, 'into'));
  const fetched = await fetchFile(fake.runner, {}, shipped.remotePath, path.join(dir, 'into'));
  assert.is(fetched.localPath, path.join(dir, 'into', 'empty.txt'));
  assert.is(fs.statSync(fetched.localPath).size, 0);
});

lib('ship errors: missing local file, path outside the roots (nothing written)', async ({ dir }) => {
  const fake = fakeWorker(new WorkerPolicy({ roots: [path.join(dir, 'root')] }));
  await rejects(shipFile(fake.runner, {}, path.join(dir, 'nope'), path.join(dir, 'root', 'x')), ErrorCode.FileNotFound);
  const local = path.join(dir, 'local.bin');
  fs.writeFileSync(local, 'data');
  await rejects(shipFile(fake.runner, {}, local, path.join(dir, 'outside', 'x')), ErrorCode.PathNotAllowed);
  assert.not.ok(fs.existsSync(path.join(dir, 'outside')));
});

lib('fetch of a missing remote file: FILE_NOT_FOUND and no local file or temp file', async ({ dir }) => {
  const fake = fakeWorker();
  const local = path.join(dir, 'out.bin');
  await rejects(fetchFile(fake.runner, {}, path.join(dir, 'missing.bin'), local), ErrorCode.FileNotFound);
  assert.not.ok(fs.existsSync(local));
  assert.equal(leftovers(dir), []);
});

lib('fetch from a worker that corrupts a byte: CHECKSUM_MISMATCH, the local target is untouched', async ({ dir }) => {
  const fake = fakeWorker();
  const remote = path.join(dir, 'remote.bin');
  fs.writeFileSync(remote, randomBytes(TRANSFER_CHUNK_BYTES + 44 * KiB));
  fake.tamper = (f) => {
    if (f.t !== 'chunk' || f.seq !== 1) return f;
    const data = Uint8Array.from(f.data);
    data[0] = data[0]! ^ 0xff;
    return { ...f, data };
  };
  const local = path.join(dir, 'local.bin');
  fs.writeFileSync(local, 'previous');
  await rejects(fetchFile(fake.runner, {}, remote, local), ErrorCode.ChecksumMismatch);
  assert.is(fs.readFileSync(local, 'utf8'), 'previous');
  assert.equal(leftovers(dir), []);
});

lib('fetch from a worker that skips a chunk: FLOW_CONTROL, the job is cancelled, nothing left behind', async ({ dir }) => {
  const fake = fakeWorker();
  const remote = path.join(dir, 'remote.bin');
  fs.writeFileSync(remote, randomBytes(3 * TRANSFER_CHUNK_BYTES + 132 * KiB));
  fake.tamper = (f) => (f.t === 'chunk' && f.seq === 1 ? undefined : f);
  const local = path.join(dir, 'local.bin');
  const error = await rejects(fetchFile(fake.runner, {}, remote, local), ErrorCode.FlowControl);
  assert.match(error.message, /Gap in chunks/);
  assert.not.ok(fs.existsSync(local));
  assert.equal(leftovers(dir), []);
});

lib('a cancelled ship ends with CANCELLED and the worker removes its temp file', async ({ dir }) => {
  const fake = fakeWorker(new WorkerPolicy(), 64 * KiB);
  const local = path.join(dir, 'local.bin');
  fs.writeFileSync(local, randomBytes(4 * 1024 * KiB));
  const abort = new AbortController();
  let aborted = false;
  const remote = path.join(dir, 'remote', 'big.bin');
  const promise = shipFile(fake.runner, {}, local, remote, {
    signal: abort.signal,
    onProgress: (p) => {
      if (p.phase === 'send' && p.bytes >= 256 * KiB && !aborted) {
        aborted = true;
        abort.abort();
      }
    },
  });
  await rejects(promise, ErrorCode.Cancelled);
  await Promise.all(fake.jobs.map((job) => job.done));
  assert.not.ok(fs.existsSync(remote));
  assert.equal(leftovers(dir), []);
});

lib('a cancelled fetch removes the local temp file', async ({ dir }) => {
  const fake = fakeWorker();
  const remote = path.join(dir, 'remote.bin');
  fs.writeFileSync(remote, randomBytes(4 * 1024 * KiB));
  const abort = new AbortController();
  const local = path.join(dir, 'local.bin');
  const promise = fetchFile(fake.runner, {}, remote, local, {
    signal: abort.signal,
    windowBytes: 64 * KiB,
    onProgress: (p) => {
      if (p.bytes >= 128 * KiB && !abort.signal.aborted) abort.abort();
    },
  });
  await rejects(promise, ErrorCode.Cancelled);
  await Promise.all(fake.jobs.map((job) => job.done));
  assert.not.ok(fs.existsSync(local));
  assert.equal(leftovers(dir), []);
});

lib.run();
