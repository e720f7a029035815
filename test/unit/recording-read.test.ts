/**
 * `readRecording` (what `cla-hub replay FILE` reads): a missing file, a folder or a file that is not a
 * recording is a ClaError with a code the CLI prints as `✖ message [CODE]`, never a bare Node error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError, ErrorCode } from '../../src/errors.ts';
import { FrameRecorder, readRecording } from '../../src/transport/recorder.ts';
import { tempDirEach, type TempDirContext } from './test-helpers.ts';

const recording = suite<TempDirContext>('readRecording');
tempDirEach(recording);

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    assert.instance(error, ClaError);
    return (error as ClaError).code;
  }
  return undefined;
}

recording('reads back what FrameRecorder wrote', (ctx) => {
  const file = path.join(ctx.dir, 'hub.rec');
  const recorder = new FrameRecorder(file, undefined, 'hub');
  recorder.close();
  const lines = readRecording(file);
  assert.is(lines.length, 1);
  assert.is((lines[0] as { event: string }).event, 'meta');
});

recording('a missing file is FILE_NOT_FOUND and says how to make one', (ctx) => {
  const file = path.join(ctx.dir, 'nope.rec');
  assert.is(codeOf(() => readRecording(file)), ErrorCode.FileNotFound);
  try {
    readRecording(file);
  } catch (error) {
    assert.match((error as Error).message, /--record FILE/);
  }
});

recording('a folder is IO_ERROR', (ctx) => {
  assert.is(codeOf(() => readRecording(ctx.dir)), ErrorCode.IoError);
});

recording('text or JSON that is not a recording line is INVALID_ARGUMENT with the line number', (ctx) => {
  const text = path.join(ctx.dir, 'notes.txt');
  fs.writeFileSync(text, '# notes\n');
  assert.is(codeOf(() => readRecording(text)), ErrorCode.InvalidArgument);
  const json = path.join(ctx.dir, 'other.json');
  fs.writeFileSync(json, `${JSON.stringify({ at: 1, conn: '-', event: 'meta', detail: '{}' })}\n{"a":1}\n`);
  try {
    readRecording(json);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, ClaError);
    assert.match((error as Error).message, /other\.json:2: not a recording line/);
  }
});

recording.run();
