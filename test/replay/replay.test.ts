/**
 * The recorded fixtures (test/replay/fixtures, made by record-fixtures.ts) replayed through a fresh hub
 * and a fresh worker: each must send the recorded frames again. See README.md in this folder.
 */
import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { formatRecording } from '../../src/cli/replay-format.ts';
import { decodeRaw, encodeFrame } from '../../src/protocol/codec.ts';
import type { Frame } from '../../src/protocol/frames.ts';
import { readRecording, type RecordLine } from '../../src/transport/recorder.ts';
import { replayHub, replayWorker, type ReplayResult } from './harness.ts';
import { FIXTURES, expectedWorkerToken, hubRecording, seedRegistry, workerRecording } from './scenario-setup.ts';

/** Fails with a line diff of the two transcripts (uvu prints it), then with any other problem. */
function assertReplayed(result: ReplayResult): void {
  assert.fixture(result.actual, result.expected);
  assert.equal(result.problems, []);
  assert.ok(result.ok);
}

/** The recording with the first outgoing frame of type `t` changed by `change`. */
function alterFirst(lines: RecordLine[], t: string, change: (frame: Record<string, unknown>) => void): RecordLine[] {
  let done = false;
  return lines.map((line) => {
    if (done || !('dir' in line) || line.dir !== 'out') return line;
    const frame = decodeRaw(Buffer.from(line.b64, 'base64')) as Record<string, unknown>;
    if (frame.t !== t) return line;
    done = true;
    change(frame);
    return { ...line, b64: Buffer.from(encodeFrame(frame as Frame)).toString('base64') };
  });
}

for (const name of FIXTURES) {
  test(`${name}: the hub sends the recorded frames again`, async () => {
    assertReplayed(await replayHub(hubRecording(name)));
  });
  if (fs.existsSync(workerRecording(name))) {
    test(`${name}: the worker sends the recorded frames again`, async () => {
      assertReplayed(await replayWorker(workerRecording(name)));
    });
  }
}

test('refusals: the replayed worker gives up on BAD_TOKEN without dialling again', async () => {
  const result = await replayWorker(workerRecording('refusals'));
  assert.ok(result.ok);
  assert.is(result.exit?.error?.code, 'BAD_TOKEN');
  assert.is(result.exit?.closeCode, 4001);
});

test('formatRecording prints one line per recorded line, every frame with an arrow, secrets masked', () => {
  const clock = new SimulatedClock();
  const seeded = seedRegistry(clock);
  const secrets = [seeded.passkey, seeded.adminToken, expectedWorkerToken(clock)];
  seeded.store.close();
  for (const name of FIXTURES) {
    for (const file of [hubRecording(name), workerRecording(name)].filter((f) => fs.existsSync(f))) {
      const lines = readRecording(file);
      const printed = formatRecording(lines);
      assert.is(printed.length, lines.length, file);
      lines.forEach((line, index) => assert.is(printed[index]!.includes('→'), 'dir' in line, `${file}:${index + 1}`));
      for (const [index, line] of lines.entries()) {
        if (!('dir' in line)) continue;
        const frame = decodeRawSafe(line.b64);
        if (frame && ('token' in frame || 'passkey' in frame)) {
          assert.match(printed[index]!, /(token|passkey)=\*\*\*/, `${file}:${index + 1}`);
        }
      }
      for (const secret of secrets) assert.not.ok(printed.some((text) => text.includes(secret)), `${file} shows a secret`);
    }
  }
});

test('the hub replay reports a recorded outgoing frame it does not send again', async () => {
  const lines = alterFirst(readRecording(hubRecording('register-and-exec')), 'dispatched', (frame) => (frame.job = 'job-99'));
  const result = await replayHub(lines);
  assert.not.ok(result.ok);
  assert.match(result.expected, /dispatched re="r1" worker="w-replay" job="job-99"/);
  assert.match(result.actual, /dispatched re="r1" worker="w-replay" job="job-1"/);
});

test('the worker replay reports a changed exit code', async () => {
  const lines = alterFirst(readRecording(workerRecording('register-and-exec')), 'exit', (frame) => (frame.code = 4));
  const result = await replayWorker(lines, { scenario: 'register-and-exec' });
  assert.not.ok(result.ok);
  assert.match(result.actual, /exit re="job-1" code=3 /);
});

test('the worker replay reports a recorded connection the worker never dialled', async () => {
  // After BAD_TOKEN the worker gives up: a connection added after that is never dialled.
  const lines = readRecording(workerRecording('refusals'));
  const extra: RecordLine = { at: lines.at(-1)!.at + 5, conn: 'h99', event: 'open', detail: 'ws://nowhere' };
  const result = await replayWorker([...lines, extra], { scenario: 'refusals', frameWaitMs: 50 });
  assert.not.ok(result.ok);
  assert.match(result.problems.join('\n'), /\[h99\] .*never dialled/);
});

function decodeRawSafe(b64: string): Record<string, unknown> | undefined {
  try {
    const value = decodeRaw(Buffer.from(b64, 'base64'));
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

test.run();
