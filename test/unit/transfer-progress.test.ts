// The CLI's transfer progress bar (src/cli/progress.ts) and `--mode` parsing: pure formatting, the redraw
// throttle on a simulated clock, and silence when stderr is not a terminal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { ErrorCode } from '../../src/errors.ts';
import { parseMode } from '../../src/cli/hub-transfer.ts';
import { formatBytes, formatDuration, formatProgress, ProgressBar } from '../../src/cli/progress.ts';

const MiB = 1024 * 1024;

test('formatBytes and formatDuration', () => {
  assert.is(formatBytes(0), '0 B');
  assert.is(formatBytes(1023), '1023 B');
  assert.is(formatBytes(1536), '1.5 KiB');
  assert.is(formatBytes(96 * MiB), '96.0 MiB');
  assert.is(formatBytes(3 * 1024 * MiB), '3.0 GiB');
  assert.is(formatDuration(0), '0:00');
  assert.is(formatDuration(61.2), '1:02');
  assert.is(formatDuration(3725), '1:02:05');
});

test('formatProgress: bar, percent, bytes, rate and ETA, within the terminal width', () => {
  const line = formatProgress({ label: 'shipping', bytes: 48 * MiB, total: 96 * MiB, rate: 12 * MiB }, 100);
  assert.match(line, /^shipping {2}\[█+░+\] {2} 50% {2}48\.0 MiB \/ 96\.0 MiB {2}12\.0 MiB\/s {2}ETA 0:04$/);
  assert.ok(line.length <= 99, `${line.length} columns`);
  const narrow = formatProgress({ label: 'shipping', bytes: 48 * MiB, total: 96 * MiB, rate: 12 * MiB }, 50);
  assert.ok(narrow.length <= 49, narrow);
  assert.not.match(narrow, /\[/, 'no room for a bar');
  assert.is(formatProgress({ label: 'fetching', bytes: 5 * MiB, total: undefined, rate: undefined }, 80), 'fetching  5.0 MiB');
  assert.match(formatProgress({ label: 'x', bytes: 0, total: 0, rate: undefined }, 80), /100%/);
});

test('ProgressBar redraws at most every 100 ms, always at 100 %, and clears its line', () => {
  const clock = new SimulatedClock();
  const out: string[] = [];
  const bar = new ProgressBar({ stream: { write: (text: string) => out.push(text), isTTY: true, columns: 100 }, clock });
  bar.update('shipping', 0, 10 * MiB);
  for (let i = 1; i < 10; i += 1) {
    clock.increment(30);
    bar.update('shipping', i * MiB, 10 * MiB);
  }
  // 9 updates over 270 ms: drawn at 0, 120 and 240 ms.
  assert.is(out.length, 3);
  clock.increment(10);
  bar.update('shipping', 10 * MiB, 10 * MiB);
  assert.is(out.length, 4, 'the final state is always drawn');
  assert.match(out[3]!, /100%/);
  assert.match(out[3]!, /MiB\/s/, 'a rate once enough time has passed');
  assert.ok(out.every((text) => text.startsWith('\r') && text.endsWith('\x1b[K')));
  bar.clear();
  assert.is(out.at(-1), '\r\x1b[K');
});

test('ProgressBar draws nothing when the stream is not a TTY', () => {
  const out: string[] = [];
  const bar = new ProgressBar({ stream: { write: (text: string) => out.push(text), isTTY: false } });
  bar.update('shipping', 1, 2);
  bar.update('shipping', 2, 2);
  bar.clear();
  assert.equal(out, []);
});

test('parseMode takes octal permissions and refuses anything else', () => {
  assert.is(parseMode('0644'), 0o644);
  assert.is(parseMode('755'), 0o755);
  assert.is(parseMode('0o600'), 0o600);
  assert.is(parseMode('4755'), 0o4755);
  for (const bad of ['rwx', '0888', '99999', '', '-1']) {
    try {
      parseMode(bad);
      assert.unreachable(`accepted ${bad}`);
    } catch (error) {
      assert.is((error as { code: string }).code, ErrorCode.InvalidArgument);
    }
  }
});

test.run();
