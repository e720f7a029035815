// The `eval` operation (src/worker/ops/eval.ts) through its JobContext: the frames it sends, each checked
// by the real codec and schema, and `cla-hub eval`'s value printing (src/cli/hub-eval.ts).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatEvalValue } from '../../src/cli/hub-eval.ts';
import { systemClock } from '../../src/clock.ts';
import { ErrorCode } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { frame, type Frame } from '../../src/protocol/frames.ts';
import type { EvalOptions } from '../../src/worker/ops/eval-process.ts';
import { startEval } from '../../src/worker/ops/eval.ts';
import type { JobContext, RunningJob } from '../../src/worker/ops/job.ts';
import { WorkerPolicy } from '../../src/worker/policy.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// See eval-runner.test.ts: uvu's FORCE_COLOR=1 next to NO_COLOR=1 makes Node warn into the logs.
const { FORCE_COLOR: _forceColor, ...TEST_ENV } = process.env;

const op = suite('eval-op');

function start(code: string, timeoutMs?: number, options: EvalOptions = {}): { job: RunningJob; sent: Frame[] } {
  const sent: Frame[] = [];
  const ctx: JobContext = {
    id: 'job-7',
    send: (f) => sent.push(decodeFrame(encodeFrame(f))),
    bufferedBytes: () => 0,
    highWaterBytes: 1024,
    clock: systemClock,
    log: silentLogger(),
    policy: new WorkerPolicy(),
  };
  const job = startEval(frame('eval', { id: 'job-7', code, ...(timeoutMs === undefined ? {} : { timeoutMs }) }), ctx, { cwd: ROOT, env: TEST_ENV, ...options });
  return { job, sent };
}

async function final(code: string, timeoutMs?: number, options: EvalOptions = {}): Promise<Frame> {
  const { job, sent } = start(code, timeoutMs, options);
  await job.done;
  assert.is(sent.length, 1, 'exactly one final frame');
  return sent[0]!;
}

op('result value is { value, logs, logsTruncated } and survives the codec', async () => {
  const f = await final(`console.log('hello'); return { when: new Date(0), bytes: new Uint8Array([1, 2]), none: undefined }`);
  if (f.t !== 'result') return assert.unreachable(JSON.stringify(f));
  assert.is(f.re, 'job-7');
  const value = f.value as { value: Record<string, unknown>; logs: string; logsTruncated: boolean };
  assert.equal(Object.keys(value).sort(), ['logs', 'logsTruncated', 'value']);
  assert.is(value.value.when, '1970-01-01T00:00:00.000Z');
  assert.equal([...(value.value.bytes as Uint8Array)], [1, 2]);
  assert.is(value.value.none, null);
  assert.is(value.logs, 'hello\n');
  assert.is(value.logsTruncated, false);
  assert.ok(f.durationMs >= 0);
});

op('a thrown error is an error frame EVAL_ERROR with { name, message, stack, phase, logs }', async () => {
  const f = await final(`console.log('trying'); throw new SyntaxError('nope')`);
  if (f.t !== 'error') return assert.unreachable(JSON.stringify(f));
  assert.is(f.re, 'job-7');
  assert.is(f.error.code, ErrorCode.EvalError);
  assert.is(f.error.retryable, false);
  assert.is(f.error.message, 'SyntaxError: nope');
  const data = f.error.data as Record<string, unknown>;
  assert.is(data.name, 'SyntaxError');
  assert.is(data.message, 'nope');
  assert.match(String(data.stack), /\[eval\]:1:/);
  assert.is(data.phase, 'run');
  assert.is(data.logs, 'trying\n');
});

op('timeoutMs of the frame is applied: TIMEOUT error frame', async () => {
  const f = await final('while (true) {}', 200, { graceMs: 100 });
  if (f.t !== 'error') return assert.unreachable(JSON.stringify(f));
  assert.is(f.error.code, ErrorCode.Timeout);
  assert.is(f.error.data?.timeoutMs, 200);
});

op('the worker default timeout applies when the frame has none', async () => {
  const f = await final('await new Promise(() => {})', undefined, { defaultTimeoutMs: 150, graceMs: 100 });
  if (f.t !== 'error') return assert.unreachable(JSON.stringify(f));
  assert.is(f.error.code, ErrorCode.Timeout);
});

op('cancel: CANCELLED error frame, once', async () => {
  const { job, sent } = start('await new Promise(() => {})');
  job.cancel('cancelled by the hub');
  job.cancel('again');
  await job.done;
  assert.is(sent.length, 1);
  const f = sent[0]!;
  if (f.t !== 'error') return assert.unreachable(JSON.stringify(f));
  assert.is(f.error.code, ErrorCode.Cancelled);
  assert.is(f.error.message, 'Eval cancelled: cancelled by the hub');
});

op('a result too large for the limit is an EVAL_ERROR frame', async () => {
  const f = await final(`return 'y'.repeat(2000)`, undefined, { maxResultBytes: 1000 });
  if (f.t !== 'error') return assert.unreachable(JSON.stringify(f));
  assert.is(f.error.code, ErrorCode.EvalError);
  assert.match(f.error.message, /too large/);
});

op('cla-hub eval printing: strings raw, binary raw, other values indented JSON; --json compact', () => {
  assert.is(formatEvalValue('host1'), 'host1\n');
  assert.is(formatEvalValue('line\n'), 'line\n');
  assert.is(formatEvalValue({ a: [1, null] }), '{\n  "a": [\n    1,\n    null\n  ]\n}\n');
  assert.is(formatEvalValue(null), 'null\n');
  assert.equal([...(formatEvalValue(new Uint8Array([0, 255])) as Uint8Array)], [0, 255]);
  assert.is(formatEvalValue('host1', { json: true }), '"host1"\n');
  assert.is(formatEvalValue({ a: [1, null], b: Buffer.from('hi') }, { json: true }), '{"a":[1,null],"b":{"$binary":"aGk="}}\n');
  assert.is(formatEvalValue(JSON.parse('{"__proto__": 1}'), { json: true }), '{"__proto__":1}\n');
});

op.run();
