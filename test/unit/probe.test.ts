// The `probe` operation (src/worker/ops/probe.ts) driven through its JobContext, with a real policy and
// real files in a temp directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { ErrorCode } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { frame, type Frame, type ProbeSpec } from '../../src/protocol/frames.ts';
import type { JobContext } from '../../src/worker/ops/job.ts';
import { startProbe } from '../../src/worker/ops/probe.ts';
import { WorkerPolicy } from '../../src/worker/policy.ts';

const probe = suite<{ dir: string; root: string }>('probe');

probe.before.each((ctx) => {
  ctx.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'cla-probe-')));
  ctx.root = path.join(ctx.dir, 'root');
  fs.mkdirSync(path.join(ctx.root, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(ctx.root, 'file.txt'), 'x');
  fs.writeFileSync(path.join(ctx.dir, 'outside.txt'), 'x');
});

probe.after.each((ctx) => {
  fs.rmSync(ctx.dir, { recursive: true, force: true });
});

/** Runs one probe and returns every frame it sent (each checked against the frame schema). */
async function run(spec: ProbeSpec, options: { tags?: string[]; roots?: string[] } = {}): Promise<Frame[]> {
  const sent: Frame[] = [];
  const ctx: JobContext = {
    id: 'job-1',
    send: (f) => sent.push(decodeFrame(encodeFrame(f))),
    bufferedBytes: () => 0,
    highWaterBytes: 1024,
    clock: new SimulatedClock(),
    log: silentLogger(),
    policy: new WorkerPolicy({ roots: options.roots }),
  };
  const job = startProbe(frame('probe', { id: 'job-1', ...spec }), ctx, { tags: options.tags ?? [] });
  await job.done;
  assert.is(sent.length, 1, 'exactly one final frame');
  return sent;
}

async function value(spec: ProbeSpec, options: { tags?: string[]; roots?: string[] } = {}): Promise<unknown> {
  const [answer] = await run(spec, options);
  if (answer?.t !== 'result') assert.unreachable(`expected a result, got ${JSON.stringify(answer)}`);
  assert.is((answer as Extract<Frame, { t: 'result' }>).re, 'job-1');
  return (answer as Extract<Frame, { t: 'result' }>).value;
}

async function error(spec: ProbeSpec, options: { tags?: string[]; roots?: string[] } = {}): Promise<{ code: string; message: string; data?: Record<string, unknown> }> {
  const [answer] = await run(spec, options);
  if (answer?.t !== 'error') assert.unreachable(`expected an error, got ${JSON.stringify(answer)}`);
  assert.is((answer as Extract<Frame, { t: 'error' }>).re, 'job-1');
  return (answer as Extract<Frame, { t: 'error' }>).error;
}

probe('file_exists: true for a file and a directory, false for a missing path', async (ctx) => {
  assert.is(await value({ check: 'file_exists', path: path.join(ctx.root, 'file.txt') }), true);
  assert.is(await value({ check: 'file_exists', path: path.join(ctx.root, 'sub') }), true);
  assert.is(await value({ check: 'file_exists', path: path.join(ctx.root, 'missing') }), false);
  // A path through a file is ENOTDIR: it does not exist either.
  assert.is(await value({ check: 'file_exists', path: path.join(ctx.root, 'file.txt', 'below') }), false);
});

probe('file_exists follows symlinks: a dangling link is false', async (ctx) => {
  fs.symlinkSync(path.join(ctx.root, 'file.txt'), path.join(ctx.root, 'good-link'));
  fs.symlinkSync(path.join(ctx.root, 'nowhere'), path.join(ctx.root, 'dangling-link'));
  assert.is(await value({ check: 'file_exists', path: path.join(ctx.root, 'good-link') }), true);
  assert.is(await value({ check: 'file_exists', path: path.join(ctx.root, 'dangling-link') }), false);
});

probe('file_exists goes through the policy: outside the roots is PATH_NOT_ALLOWED, even for a missing path', async (ctx) => {
  const roots = [ctx.root];
  assert.is(await value({ check: 'file_exists', path: path.join(ctx.root, 'file.txt') }, { roots }), true);
  const outside = await error({ check: 'file_exists', path: path.join(ctx.dir, 'outside.txt') }, { roots });
  assert.is(outside.code, ErrorCode.PathNotAllowed);
  assert.is((await error({ check: 'file_exists', path: path.join(ctx.dir, 'nothing-here') }, { roots })).code, ErrorCode.PathNotAllowed);
  // `..` and a symlink out of the root are resolved before the check.
  assert.is((await error({ check: 'file_exists', path: path.join(ctx.root, '..', 'outside.txt') }, { roots })).code, ErrorCode.PathNotAllowed);
  fs.symlinkSync(ctx.dir, path.join(ctx.root, 'escape'));
  assert.is((await error({ check: 'file_exists', path: path.join(ctx.root, 'escape', 'outside.txt') }, { roots })).code, ErrorCode.PathNotAllowed);
});

probe('file_exists: a path that cannot be checked is IO_ERROR, not false', async (ctx) => {
  const tooLong = await error({ check: 'file_exists', path: path.join(ctx.root, 'n'.repeat(300)) });
  assert.is(tooLong.code, ErrorCode.IoError);
  assert.is(tooLong.data?.errno, 'ENAMETOOLONG');
  if (process.getuid?.() === 0) return; // root reads through any permission: no EACCES to provoke
  const locked = path.join(ctx.root, 'locked');
  fs.mkdirSync(locked);
  fs.writeFileSync(path.join(locked, 'inside'), 'x');
  fs.chmodSync(locked, 0o000);
  try {
    const failed = await error({ check: 'file_exists', path: path.join(locked, 'inside') });
    assert.is(failed.code, ErrorCode.IoError);
    assert.is(failed.data?.errno, 'EACCES');
  } finally {
    fs.chmodSync(locked, 0o700);
  }
});

probe('file_exists without a path is INVALID_ARGUMENT', async () => {
  assert.is((await error({ check: 'file_exists' })).code, ErrorCode.InvalidArgument);
});

probe('capable: true when the worker has every tag (case-sensitive), an empty list is true', async () => {
  const tags = ['java', 'nodejs', 'linux'];
  assert.is(await value({ check: 'capable', tags: ['java'] }, { tags }), true);
  assert.is(await value({ check: 'capable', tags: ['java', 'linux'] }, { tags }), true);
  assert.is(await value({ check: 'capable', tags: ['java', 'windows'] }, { tags }), false);
  assert.is(await value({ check: 'capable', tags: ['Java'] }, { tags }), false);
  assert.is(await value({ check: 'capable', tags: [] }, { tags }), true);
  assert.is(await value({ check: 'capable', tags: ['java'] }, { tags: [] }), false);
});

probe('capable without tags is INVALID_ARGUMENT', async () => {
  assert.is((await error({ check: 'capable' })).code, ErrorCode.InvalidArgument);
});

probe('a cancel does not stop the answer: still exactly one final frame', async (ctx) => {
  const sent: Frame[] = [];
  const ctxJob: JobContext = {
    id: 'job-2',
    send: (f) => sent.push(f),
    bufferedBytes: () => 0,
    highWaterBytes: 1024,
    clock: new SimulatedClock(),
    log: silentLogger(),
    policy: new WorkerPolicy(),
  };
  const job = startProbe(frame('probe', { id: 'job-2', check: 'file_exists', path: path.join(ctx.root, 'file.txt') }), ctxJob, { tags: [] });
  job.cancel('too slow');
  await job.done;
  assert.equal(sent.map((f) => f.t), ['result']);
});

probe.run();
