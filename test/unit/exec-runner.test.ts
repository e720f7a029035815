// Real child processes (POSIX only): /bin/sh, printf, head, sleep.
import { realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { lastValueFrom } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Clock } from '../../src/clock.ts';
import { ClaError, ErrorCode, InvalidArgumentError } from '../../src/errors.ts';
import type { ExecSpec } from '../../src/protocol/frames.ts';
import { runExec, type ExecEvent, type ExecHandle, type ExecRunnerOptions } from '../../src/worker/exec-runner.ts';
import { isProcessGroupAlive } from '../../src/worker/process-tree.ts';
import { eventually, isGone } from './test-helpers.ts';

type ExitEvent = Extract<ExecEvent, { type: 'exit' }>;
type OutputEvent = Extract<ExecEvent, { type: 'output' }>;

interface Run {
  events: ExecEvent[];
  outputs: OutputEvent[];
  exit: ExitEvent;
  stdout: string;
  stderr: string;
}

/** Subscribes and resolves once the stream completes; `onEvent` sees every event as it arrives. */
function collect(handle: ExecHandle, onEvent?: (event: ExecEvent) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const events: ExecEvent[] = [];
    handle.events$.subscribe({
      next: (event) => {
        events.push(event);
        onEvent?.(event);
      },
      error: reject,
      complete: () => {
        const outputs = events.filter((e): e is OutputEvent => e.type === 'output');
        const text = (stream: string) =>
          Buffer.concat(outputs.filter((e) => e.stream === stream).map((e) => e.data)).toString();
        const exit = events.at(-1);
        if (exit?.type !== 'exit') return reject(new Error('stream completed without exit'));
        resolve({ events, outputs, exit, stdout: text('stdout'), stderr: text('stderr') });
      },
    });
  });
}

function run(spec: ExecSpec, options: ExecRunnerOptions = {}): Promise<Run> {
  return collect(runExec(spec, options));
}

async function expectError(handle: ExecHandle): Promise<ClaError> {
  try {
    await collect(handle);
  } catch (error) {
    assert.instance(error, ClaError);
    return error as ClaError;
  }
  assert.unreachable('expected the stream to error');
  throw new Error('unreachable');
}

/** A clock whose timers fire only when the test advances it. */
class ManualClock implements Clock {
  private time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, timeout: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + timeout, fn });
    return id;
  }
  clearTimeout(id: unknown): void {
    this.timers.delete(id as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    this.time += ms;
    for (const [id, timer] of [...this.timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.time || !this.timers.has(id)) continue;
      this.timers.delete(id);
      timer.fn();
    }
  }
}

test('string cmd runs through the shell with env added to baseEnv', async () => {
  const r = await run(
    { cmd: 'printf "%s-%s" "$GREETING" "$BASE" | tr a-z A-Z', env: { GREETING: 'hello' } },
    { baseEnv: { PATH: process.env.PATH, BASE: 'base' } },
  );
  assert.is(r.events[0]?.type, 'started');
  assert.is(r.stdout, 'HELLO-BASE');
  assert.equal({ ...r.exit, durationMs: 0 }, {
    type: 'exit', code: 0, signal: null, timedOut: false, cancelled: false, durationMs: 0,
  });
});

test('onSpawn gets the pid, and what it returns runs once, after the exit event went out (issue 13)', async () => {
  const seen: string[] = [];
  const { exit } = await collect(
    runExec({ cmd: ['true'] }, {
      onSpawn: (pid) => {
        seen.push(`spawn ${typeof pid}`);
        return () => seen.push('release');
      },
    }),
    (event) => seen.push(event.type),
  );
  assert.is(exit.code, 0);
  assert.equal(seen, ['spawn number', 'started', 'exit', 'release']);
});

test('argv cmd runs without a shell: spaces and $ stay literal', async () => {
  const r = await run({ cmd: ['printf', '%s|', 'a b', '$HOME', '`id`'] });
  assert.is(r.stdout, 'a b|$HOME|`id`|');
  assert.is(r.exit.code, 0);
});

test('cwd is used', async () => {
  const r = await run({ cmd: 'pwd', cwd: tmpdir() });
  assert.is(r.stdout, `${realpathSync(tmpdir())}\n`);
});

test('stdout and stderr are separated and share one increasing seq', async () => {
  const r = await run({ cmd: 'echo out1; echo err1 >&2; sleep 0.05; echo out2; echo err2 >&2' }, { batchMs: 0 });
  assert.is(r.stdout, 'out1\nout2\n');
  assert.is(r.stderr, 'err1\nerr2\n');
  assert.equal(r.outputs.map((e) => e.seq), r.outputs.map((_, i) => i));
  assert.ok(r.outputs.length >= 2);
});

test('output of one stream is coalesced up to batchMs and flushed before exit', async () => {
  const batched = await run({ cmd: 'printf a; sleep 0.1; printf b' }, { batchMs: 60_000 });
  assert.equal(batched.outputs.map((e) => Buffer.from(e.data).toString()), ['ab']);
  const live = await run({ cmd: 'printf a; sleep 0.1; printf b' }, { batchMs: 0 });
  assert.equal(live.outputs.map((e) => Buffer.from(e.data).toString()), ['a', 'b']);
  assert.is(live.exit.code, 0);
});

test('non-zero exit code', async () => {
  const r = await run({ cmd: 'echo failing >&2; exit 7' });
  assert.is(r.exit.code, 7);
  assert.is(r.exit.signal, null);
  assert.is(r.stderr, 'failing\n');
});

test('exit by signal', async () => {
  const r = await run({ cmd: 'kill -TERM $$' });
  assert.is(r.exit.code, null);
  assert.is(r.exit.signal, 'SIGTERM');
  assert.is(r.exit.cancelled, false);
});

test('5 MB of output arrives complete in chunks of at most maxChunkBytes', async () => {
  const r = await run({ cmd: ['head', '-c', '5000000', '/dev/zero'] });
  const total = r.outputs.reduce((n, e) => n + e.data.length, 0);
  assert.is(total, 5_000_000);
  assert.ok(r.outputs.every((e) => e.data.length <= 64 * 1024 && e.stream === 'stdout'));
  assert.ok(r.outputs.every((e) => e.data.every((b) => b === 0)));
  assert.equal(r.outputs.map((e) => e.seq), r.outputs.map((_, i) => i));
});

test('a small maxChunkBytes splits output without losing or reordering bytes', async () => {
  const r = await run({ cmd: ['seq', '1', '20000'] }, { maxChunkBytes: 1000 });
  const expected = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('');
  assert.is(r.stdout, expected);
  assert.ok(r.outputs.every((e) => e.data.length <= 1000));
  assert.ok(r.outputs.length >= Math.ceil(expected.length / 1000));
});

test('missing cwd errors with SPAWN_FAILED naming the directory', async () => {
  const cwd = path.join(tmpdir(), 'cla-worker-no-such-dir-' + process.pid);
  const error = await expectError(runExec({ cmd: 'true', cwd }));
  assert.is(error.code, ErrorCode.SpawnFailed);
  assert.ok(error.message.includes(cwd), error.message);
});

test('cwd that is a file errors with SPAWN_FAILED', async () => {
  const file = fileURLToPath(import.meta.url);
  const error = await expectError(runExec({ cmd: 'true', cwd: file }));
  assert.is(error.code, ErrorCode.SpawnFailed);
  assert.match(error.message, 'not a directory');
});

test('missing program errors with SPAWN_FAILED naming the program', async () => {
  const error = await expectError(runExec({ cmd: ['cla-no-such-program-xyz', '--help'] }));
  assert.is(error.code, ErrorCode.SpawnFailed);
  assert.ok(error.message.includes('cla-no-such-program-xyz'), error.message);
});

test('timeout kills the whole process tree', async () => {
  const r = await run({ cmd: 'sleep 30 & echo $!; wait', timeoutMs: 300 }, { graceMs: 200, batchMs: 0 });
  const grandchild = Number.parseInt(r.stdout.trim(), 10);
  assert.ok(Number.isInteger(grandchild) && grandchild > 0, r.stdout);
  assert.is(r.exit.timedOut, true);
  assert.is(r.exit.cancelled, false);
  assert.ok(await eventually(() => isGone(grandchild)), `grandchild ${grandchild} still alive`);
});

test('cancel sends SIGINT first: output of a trap handler still arrives', async () => {
  const handle = runExec(
    { cmd: "trap 'echo bye; exit 3' INT; echo ready; while :; do sleep 0.1; done" },
    { graceMs: 5000, batchMs: 0 },
  );
  const r = await collect(handle, (event) => {
    if (event.type === 'output' && Buffer.from(event.data).toString().includes('ready')) handle.cancel('test');
  });
  assert.is(r.stdout, 'ready\nbye\n');
  assert.is(r.exit.code, 3);
  assert.is(r.exit.cancelled, true);
  assert.is(r.exit.timedOut, false);
  assert.is(r.exit.reason, 'test');
});

test('cancel escalates to SIGKILL when SIGINT and SIGTERM are ignored', async () => {
  const handle = runExec({ cmd: "trap '' INT TERM; echo ready; while :; do sleep 0.1; done" }, { graceMs: 200, batchMs: 0 });
  const r = await collect(handle, (event) => {
    if (event.type === 'output') handle.cancel();
  });
  assert.is(r.exit.signal, 'SIGKILL');
  assert.is(r.exit.cancelled, true);
  assert.ok(await eventually(() => !isProcessGroupAlive(handle.pid!)));
});

test('unsubscribing before exit cancels the process', async () => {
  const handle = runExec({ cmd: 'sleep 30 & sleep 30' }, { graceMs: 200 });
  const started = await new Promise<number>((resolve, reject) => {
    const subscription = handle.events$.subscribe({
      next: (event) => {
        if (event.type !== 'started') return;
        // Unsubscribing from inside next() must work too.
        queueMicrotask(() => subscription.unsubscribe());
        resolve(event.pid);
      },
      error: reject,
    });
  });
  assert.is(handle.pid, started);
  assert.ok(await eventually(() => !isProcessGroupAlive(started)), 'process group still alive');
});

test('timers go through the injected clock', async () => {
  const clock = new ManualClock();
  const handle = runExec({ cmd: ['sleep', '30'], timeoutMs: 60_000 }, { clock, graceMs: 1000 });
  const done = collect(handle);
  assert.ok(await eventually(() => handle.pid !== undefined && clock.pending === 1));
  clock.advance(60_000); // timeout -> SIGINT, which ends `sleep`
  const r = await done;
  assert.is(r.exit.timedOut, true);
  assert.is(r.exit.signal, 'SIGINT');
  assert.is(r.exit.durationMs, 60_000);
});

test('cancel before subscribing never runs the command', async () => {
  const handle = runExec({ cmd: ['sh', '-c', 'echo ran'] });
  handle.cancel();
  const r = await collect(handle);
  assert.equal(r.events.map((e) => e.type), ['exit']);
  assert.is(r.exit.cancelled, true);
  assert.is(handle.pid, undefined);
});

test('events$ can be subscribed only once', async () => {
  const handle = runExec({ cmd: 'true' });
  const first = collect(handle);
  const error = await expectError(handle);
  assert.is(error.code, ErrorCode.InvalidArgument);
  assert.is((await first).exit.code, 0);
});

test('pause() stops reading until resume()', async () => {
  const handle = runExec({ cmd: ['head', '-c', '1000000', '/dev/zero'] });
  handle.pause();
  let bytes = 0;
  const done = collect(handle, (event) => {
    if (event.type === 'output') bytes += event.data.length;
  });
  assert.ok(await eventually(() => handle.pid !== undefined));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.is(bytes, 0);
  handle.resume();
  const r = await done;
  assert.is(bytes, 1_000_000);
  assert.is(r.exit.code, 0);
});

test('a finished run dies young: what the child leaves to a full GC no longer reaches it (issue 13)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
  // What survives young-generation GCs (scavenges) only: a retained run is promoted, not collected.
  const survivors = () => {
    gc({ type: 'minor' });
    gc({ type: 'minor' });
    return v8.getHeapStatistics().used_heap_size;
  };
  const RUNS = 32;
  const PAYLOAD_BYTES = 64 * 1024;
  // Each run holds a payload of its own (through its onSpawn option), which nothing outside the run sees.
  const once = async (i: number) => {
    const payload = Buffer.alloc(PAYLOAD_BYTES, 48 + (i % 10)).toString('latin1');
    const exit = await lastValueFrom(runExec({ cmd: ['true'] }, { onSpawn: () => () => payload.length }).events$);
    assert.is(exit.type === 'exit' && exit.code, 0);
  };
  for (let i = 0; i < 4; i += 1) await once(i); // warm: code, the first child's one-time objects
  const before = survivors();
  for (let i = 0; i < RUNS; i += 1) await once(i);
  const grown = survivors() - before;
  // Node's closed process and pipe handles keep the ChildProcess and its sockets (~3 KB a run) until a
  // full GC; a run still reachable from them would keep its payload too: RUNS * 64 KiB = 2 MiB.
  assert.ok(grown < (RUNS * PAYLOAD_BYTES) / 2, `young GCs kept ${grown} bytes of ${RUNS} finished runs (their payloads are ${RUNS * PAYLOAD_BYTES})`);
});

test('invalid options throw InvalidArgumentError', () => {
  assert.throws(() => runExec({ cmd: 'true' }, { batchMs: -1 }), (e: unknown) => e instanceof InvalidArgumentError);
  assert.throws(() => runExec({ cmd: 'true' }, { maxChunkBytes: 0 }), /`maxChunkBytes`/);
  assert.throws(() => runExec({ cmd: 'true' }, { graceMs: 1.5 }), /`graceMs`/);
});

test.run();
