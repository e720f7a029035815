// The worker's `ship` and `fetch` operations against an in-memory JobContext and real temp files: the
// flow-control rules (gap, duplicate, over-credit), checksums, modes, refusals, and that no failure leaves
// a target or a temp file behind.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { systemClock, type Clock } from '../../src/clock.ts';
import { ClaError, ErrorCode } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { frame, type Frame, type FrameOf } from '../../src/protocol/frames.ts';
import { startFetch } from '../../src/worker/ops/fetch.ts';
import type { JobContext, RunningJob } from '../../src/worker/ops/job.ts';
import { startShip, type TransferOpOptions } from '../../src/worker/ops/ship.ts';
import { isTempName, TRANSFER_CHUNK_BYTES } from '../../src/worker/ops/transfer-io.ts';
import { WorkerPolicy } from '../../src/worker/policy.ts';

const KiB = 1024;
const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface Harness {
  ctx: JobContext;
  frames: Frame[];
  /** Resolves with the first frame of type `t` at or after index `from`. */
  next<T extends Frame['t']>(t: T, from?: number): Promise<FrameOf<T>>;
  buffered: number;
}

function harness(options: { roots?: string[]; clock?: Clock } = {}): Harness {
  const frames: Frame[] = [];
  const waiters: Array<() => void> = [];
  const h: Harness = {
    frames,
    buffered: 0,
    ctx: {
      id: 'job-1',
      send: (f) => {
        frames.push(f);
        waiters.splice(0).forEach((wake) => wake());
      },
      bufferedBytes: () => h.buffered,
      highWaterBytes: 1024 * KiB,
      clock: options.clock ?? systemClock,
      log: silentLogger(),
      policy: new WorkerPolicy({ roots: options.roots }),
    },
    next: async <T extends Frame['t']>(t: T, from = 0) => {
      for (;;) {
        const found = frames.slice(from).find((f) => f.t === t || f.t === 'error' || f.t === 'result');
        if (found && found.t === t) return found as FrameOf<T>;
        if (found && found.t !== t && (found.t === 'error' || found.t === 'result')) {
          throw new Error(`expected ${t}, got ${JSON.stringify(found.t === 'error' ? found.error : found)}`);
        }
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
  return h;
}

/** Waits for the job's final frame and returns it. */
async function final(job: RunningJob, h: Harness): Promise<FrameOf<'result'> | FrameOf<'error'>> {
  await job.done;
  const last = h.frames.at(-1)!;
  assert.ok(last.t === 'result' || last.t === 'error', `last frame is ${last.t}`);
  assert.is(h.frames.filter((f) => f.t === 'result' || f.t === 'error').length, 1, 'exactly one final frame');
  return last as FrameOf<'result'> | FrameOf<'error'>;
}

function shipFrame(target: string, data: Uint8Array, extra: Partial<FrameOf<'ship'>> = {}): FrameOf<'ship'> {
  return frame('ship', { id: 'job-1', path: target, size: data.length, sha256: sha(data), ...extra });
}

const chunk = (seq: number, data: Uint8Array) => frame('chunk', { re: 'job-1', seq, data });

/** Sends `data` as chunks of `size` bytes, waiting for credit like a well-behaved sender. */
async function sendWithinCredit(job: RunningJob, h: Harness, data: Uint8Array, size = 32 * KiB): Promise<void> {
  let credit = 0;
  let seen = 0;
  let offset = 0;
  let seq = 0;
  while (offset < data.length) {
    while (credit === 0) {
      const grant = await h.next('credit', seen);
      seen = h.frames.indexOf(grant) + 1;
      credit += grant.bytes;
    }
    const n = Math.min(size, credit, data.length - offset);
    job.input(chunk(seq++, data.subarray(offset, offset + n)));
    offset += n;
    credit -= n;
  }
}

const ops = suite<{ dir: string }>('transfer ops');
ops.before.each((ctx) => {
  ctx.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'cla-transfer-ops-')));
});
ops.after.each((ctx) => fs.rmSync(ctx.dir, { recursive: true, force: true }));

/** Names in `dir` (recursively) that look like transfer temp files. */
function leftovers(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => isTempName(path.basename(name)));
}

async function expectError(job: RunningJob, h: Harness, code: string): Promise<FrameOf<'error'>> {
  const last = await final(job, h);
  assert.is(last.t, 'error', `expected an error ${code}, got ${JSON.stringify(last)}`);
  assert.is((last as FrameOf<'error'>).error.code, code, (last as FrameOf<'error'>).error.message);
  return last as FrameOf<'error'>;
}

ops('ship writes chunks within credit, creates parents, renames with mode 0644, grants window by window', async ({ dir }) => {
  const h = harness();
  const data = randomBytes(300 * KiB);
  const target = path.join(dir, 'a', 'b', 'file.bin');
  const options: TransferOpOptions = { windowBytes: 64 * KiB };
  const job = startShip(shipFrame(target, data), h.ctx, options);
  // While receiving, only the temp file exists beside the target, mode 0600.
  await h.next('credit');
  const names = fs.readdirSync(path.dirname(target));
  assert.is(names.length, 1);
  assert.ok(isTempName(names[0]!), names[0]);
  assert.ok(names[0]!.startsWith('.file.bin.cla-tmp-'));
  assert.is(fs.statSync(path.join(path.dirname(target), names[0]!)).mode & 0o777, 0o600);
  await sendWithinCredit(job, h, data);
  const last = await final(job, h);
  assert.is(last.t, 'result', JSON.stringify(last));
  assert.equal((last as FrameOf<'result'>).value, { path: target, bytes: data.length, sha256: sha(data) });
  assert.ok(fs.readFileSync(target).equals(data));
  assert.is(fs.statSync(target).mode & 0o777, 0o644);
  assert.equal(leftovers(dir), []);
  const grants = h.frames.filter((f): f is FrameOf<'credit'> => f.t === 'credit').map((f) => f.bytes);
  assert.is(grants[0], 64 * KiB, 'first grant is one window');
  assert.is(grants.reduce((a, b) => a + b, 0), data.length, 'grants add up to the size, never more');
});

ops('ship applies the requested mode and replaces an existing file', async ({ dir }) => {
  const h = harness();
  const target = path.join(dir, 'run.sh');
  fs.writeFileSync(target, 'old');
  const data = Buffer.from('#!/bin/sh\necho hi\n');
  const job = startShip(shipFrame(target, data, { mode: 0o750 }), h.ctx);
  await sendWithinCredit(job, h, data);
  assert.is((await final(job, h)).t, 'result');
  assert.is(fs.readFileSync(target, 'utf8'), data.toString());
  assert.is(fs.statSync(target).mode & 0o777, 0o750);
});

ops('ship of an empty file needs no chunk and no credit', async ({ dir }) => {
  const h = harness();
  const target = path.join(dir, 'empty');
  const job = startShip(shipFrame(target, new Uint8Array(0)), h.ctx);
  const last = await final(job, h);
  assert.is(last.t, 'result', JSON.stringify(last));
  assert.is(fs.statSync(target).size, 0);
  assert.is(h.frames.filter((f) => f.t === 'credit').length, 0);
  assert.equal(leftovers(dir), []);
});

for (const [name, misbehave] of [
  ['a gap in seq', (job: RunningJob, data: Uint8Array) => [job.input(chunk(0, data.subarray(0, 1000))), job.input(chunk(2, data.subarray(1000, 2000)))]],
  ['a duplicate seq', (job: RunningJob, data: Uint8Array) => [job.input(chunk(0, data.subarray(0, 1000))), job.input(chunk(0, data.subarray(0, 1000)))]],
  ['bytes beyond the granted credit', (job: RunningJob, data: Uint8Array) => [job.input(chunk(0, data.subarray(0, 40 * KiB))), job.input(chunk(1, data.subarray(40 * KiB, 80 * KiB)))]],
] as const) {
  ops(`ship refuses ${name} with FLOW_CONTROL and leaves nothing behind`, async ({ dir }) => {
    const h = harness();
    const data = randomBytes(200 * KiB);
    const target = path.join(dir, 'flow.bin');
    const job = startShip(shipFrame(target, data), h.ctx, { windowBytes: 64 * KiB });
    await h.next('credit');
    misbehave(job, data);
    const error = await expectError(job, h, ErrorCode.FlowControl);
    assert.match(error.error.message, name === 'a gap in seq' ? /Gap in chunks: expected seq 1, got 2/ : name === 'a duplicate seq' ? /Duplicate chunk/ : /beyond the granted credit/);
    assert.not.ok(fs.existsSync(target));
    assert.equal(leftovers(dir), []);
  });
}

ops('ship refuses a chunk sent before any credit', async ({ dir }) => {
  const h = harness();
  const data = randomBytes(1000);
  const target = path.join(dir, 'early.bin');
  const job = startShip(shipFrame(target, data), h.ctx);
  job.input(chunk(0, data));
  await expectError(job, h, ErrorCode.FlowControl);
  assert.not.ok(fs.existsSync(target));
  assert.equal(leftovers(dir), []);
});

ops('ship with a wrong sha256 is refused with CHECKSUM_MISMATCH and the old target is untouched', async ({ dir }) => {
  const h = harness();
  const target = path.join(dir, 'keep.txt');
  fs.writeFileSync(target, 'original');
  const data = randomBytes(100 * KiB);
  const job = startShip(shipFrame(target, data, { sha256: sha(Buffer.from('something else')) }), h.ctx);
  await sendWithinCredit(job, h, data);
  const error = await expectError(job, h, ErrorCode.ChecksumMismatch);
  assert.match(error.error.message, /nothing was written/);
  assert.is(fs.readFileSync(target, 'utf8'), 'original');
  assert.equal(leftovers(dir), []);
});

ops('ship cancelled mid-way removes its temp file and reports CANCELLED', async ({ dir }) => {
  const h = harness();
  const data = randomBytes(200 * KiB);
  const target = path.join(dir, 'cancel.bin');
  const job = startShip(shipFrame(target, data), h.ctx, { windowBytes: 64 * KiB });
  await h.next('credit');
  job.input(chunk(0, data.subarray(0, 32 * KiB)));
  job.cancel('connection lost');
  await expectError(job, h, ErrorCode.Cancelled);
  assert.not.ok(fs.existsSync(target));
  assert.equal(leftovers(dir), []);
});

ops('ship that stalls is abandoned with TIMEOUT after the idle time (simulated clock)', async ({ dir }) => {
  const clock = new SimulatedClock();
  const h = harness({ clock });
  const data = randomBytes(100 * KiB);
  const target = path.join(dir, 'stall.bin');
  const job = startShip(shipFrame(target, data), h.ctx, { idleTimeoutMs: 60_000 });
  await h.next('credit');
  job.input(chunk(0, data.subarray(0, 10 * KiB)));
  clock.increment(59_000);
  assert.not.ok(h.frames.some((f) => f.t === 'error'));
  clock.increment(61_000);
  await expectError(job, h, ErrorCode.Timeout);
  assert.equal(leftovers(dir), []);
});

ops('ship outside the roots is refused before anything is created', ({ dir }) => {
  const h = harness({ roots: [path.join(dir, 'allowed')] });
  const target = path.join(dir, 'elsewhere', 'x.bin');
  try {
    startShip(shipFrame(target, Buffer.from('x')), h.ctx);
    assert.unreachable('should throw');
  } catch (error) {
    assert.instance(error, ClaError);
    assert.is((error as ClaError).code, ErrorCode.PathNotAllowed);
  }
  assert.not.ok(fs.existsSync(path.join(dir, 'elsewhere')));
});

ops('ship onto a folder is refused with IO_ERROR', async ({ dir }) => {
  const h = harness();
  const job = startShip(shipFrame(dir, Buffer.from('x')), h.ctx);
  const error = await expectError(job, h, ErrorCode.IoError);
  assert.match(error.error.message, /is a directory/);
  assert.equal(leftovers(dir), []);
});

/** Collects fetch chunks as they come. */
function chunksOf(h: Harness): Buffer {
  return Buffer.concat(h.frames.filter((f): f is FrameOf<'chunk'> => f.t === 'chunk').map((f) => f.data));
}

// Only for what must NOT happen (no chunk without credit): a positive wait is for the frames themselves.
const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

/** Waits until the chunks sent hold at least `bytes` (a frame after them that ends the job fails the wait). */
async function untilSent(h: Harness, bytes: number): Promise<void> {
  while (chunksOf(h).length < bytes) await h.next('chunk', h.frames.length);
}

ops('fetch announces size and mode, sends only within credit, in chunks of at most TRANSFER_CHUNK_BYTES', async ({ dir }) => {
  const h = harness();
  const source = path.join(dir, 'src.bin');
  const data = randomBytes(1024 * KiB + 123);
  fs.writeFileSync(source, data, { mode: 0o640 });
  fs.chmodSync(source, 0o640);
  const job = startFetch(frame('fetch', { id: 'job-1', path: source }), h.ctx);
  const file = await h.next('file');
  assert.is(file.size, data.length);
  assert.is(file.mode, 0o640);
  await tick();
  assert.is(h.frames.filter((f) => f.t === 'chunk').length, 0, 'no chunk without credit');
  job.input(frame('credit', { re: 'job-1', bytes: 100 * KiB }));
  await untilSent(h, 100 * KiB);
  assert.is(chunksOf(h).length, 100 * KiB, 'exactly the credit, no more');
  // Exactly the rest: the last chunk uses the last byte of credit and the job still ends.
  job.input(frame('credit', { re: 'job-1', bytes: data.length - 100 * KiB }));
  const last = await final(job, h);
  assert.is(last.t, 'result', JSON.stringify(last));
  assert.equal((last as FrameOf<'result'>).value, { path: source, bytes: data.length, sha256: sha(data) });
  const chunks = h.frames.filter((f): f is FrameOf<'chunk'> => f.t === 'chunk');
  assert.ok(chunks.every((c) => c.data.length <= TRANSFER_CHUNK_BYTES));
  assert.equal(chunks.map((c) => c.seq), chunks.map((_c, i) => i));
  assert.ok(chunksOf(h).equals(data));
});

ops('fetch pauses while the socket is congested', async ({ dir }) => {
  const h = harness();
  const source = path.join(dir, 'src.bin');
  fs.writeFileSync(source, randomBytes(600 * KiB));
  const job = startFetch(frame('fetch', { id: 'job-1', path: source }), h.ctx);
  await h.next('file');
  h.buffered = 2 * h.ctx.highWaterBytes;
  job.input(frame('credit', { re: 'job-1', bytes: 1024 * KiB }));
  await tick();
  assert.is(h.frames.filter((f) => f.t === 'chunk').length, 0, 'nothing sent while congested');
  h.buffered = 0;
  assert.is((await final(job, h)).t, 'result');
  assert.is(chunksOf(h).length, 600 * KiB);
});

ops('fetch of an empty file: file then result, no chunk', async ({ dir }) => {
  const h = harness();
  const source = path.join(dir, 'empty');
  fs.writeFileSync(source, '');
  const job = startFetch(frame('fetch', { id: 'job-1', path: source }), h.ctx);
  const last = await final(job, h);
  assert.equal(h.frames.map((f) => f.t), ['file', 'result']);
  assert.equal((last as FrameOf<'result'>).value, { path: source, bytes: 0, sha256: sha(new Uint8Array(0)) });
});

ops('fetch refusals: missing file, folder, outside the roots', async ({ dir }) => {
  const missing = harness();
  await expectError(startFetch(frame('fetch', { id: 'job-1', path: path.join(dir, 'nope') }), missing.ctx), missing, ErrorCode.FileNotFound);
  const folder = harness();
  const error = await expectError(startFetch(frame('fetch', { id: 'job-1', path: dir }), folder.ctx), folder, ErrorCode.IoError);
  assert.match(error.error.message, /is a directory/);
  const rooted = harness({ roots: [path.join(dir, 'allowed')] });
  try {
    startFetch(frame('fetch', { id: 'job-1', path: '/etc/hostname' }), rooted.ctx);
    assert.unreachable('should throw');
  } catch (thrown) {
    assert.is((thrown as ClaError).code, ErrorCode.PathNotAllowed);
  }
});

ops('fetch cancelled while waiting for credit ends with CANCELLED', async ({ dir }) => {
  const h = harness();
  const source = path.join(dir, 'src.bin');
  fs.writeFileSync(source, randomBytes(600 * KiB));
  const job = startFetch(frame('fetch', { id: 'job-1', path: source }), h.ctx);
  await h.next('file');
  job.input(frame('credit', { re: 'job-1', bytes: 64 * KiB }));
  await untilSent(h, 64 * KiB);
  job.cancel('cancelled by the hub');
  await expectError(job, h, ErrorCode.Cancelled);
});

ops.run();
