/**
 * What a worker writes to its socket for one exec (issue 13): the frames of a job leave in as few writes as
 * the job's events allow. A real WorkerAgent runs a real `true` over a FrameChannel whose byte socket
 * records each corked batch (one batch = one write to a real socket). Also what environment the job's
 * process gets (a copy taken when the agent is created, so no spawn reads the live process.env).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { frame, type Frame } from '../../src/protocol/frames.ts';
import { FrameChannel, type ByteSocket } from '../../src/transport/frame-channel.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import { ActionExtension } from '../../src/worker/actions/index.ts';
import { SubscriptionRegistry } from '../../src/worker/subscriptions.ts';

/** A byte socket that keeps the frames of each corked batch together, as one write. */
class BatchingSocket implements ByteSocket {
  readonly batches: Frame[][] = [];
  private open: Frame[] | undefined;
  private listeners: Array<() => void> = [];

  send(bytes: Uint8Array, done: (error?: Error) => void): void {
    const decoded = decodeFrame(bytes);
    if (this.open) this.open.push(decoded);
    else this.batches.push([decoded]);
    done();
    for (const listener of this.listeners.splice(0)) listener();
  }
  cork(): void {
    this.open = [];
  }
  uncork(): void {
    if (this.open && this.open.length > 0) this.batches.push(this.open);
    this.open = undefined;
    for (const listener of this.listeners.splice(0)) listener();
  }
  close(): void {}
  terminate(): void {}
  bufferedAmount(): number {
    return 0;
  }

  /** Resolves once a written batch holds a frame that `match`es (checked after each write). */
  async written(match: (f: Frame) => boolean): Promise<void> {
    while (!this.batches.some((batch) => batch.some(match))) await new Promise<void>((resolve) => this.listeners.push(resolve));
  }
}

/** A real agent on a BatchingSocket, past its handshake (welcomed, idle). */
async function welcomedAgent(agent: (connect: () => Promise<FrameChannel>) => WorkerAgent) {
  const socket = new BatchingSocket();
  const channel = new FrameChannel(socket, { id: 'w', remote: 'test' });
  const worker = agent(async () => channel);
  const exited = worker.run();
  // Held by the channel until the agent takes its frames, as the hub's first frame is.
  channel.receive(encodeFrame(frame('challenge', { nonce: '0'.repeat(32) })));
  await socket.written((f) => f.t === 'hello');
  channel.receive(encodeFrame(frame('welcome', { session: 's1', role: 'worker', projects: ['p'], heartbeatMs: 60_000, disabled: false })));
  await socket.written((f) => f.t === 'state' && f.value === 'connected.idle');
  const stop = async () => {
    worker.stop('test done');
    channel.closedBy(1000, 'test done');
    await exited;
  };
  return { socket, channel, stop };
}

test("a job's environment is the worker's as it was when the agent was created, plus the job's env", async () => {
  // Spawning from a copy instead of the live process.env (issue 13): a later change does not reach jobs.
  const name = 'CLA_TEST_EXEC_ENV';
  process.env[name] = 'at-creation';
  let worker: Awaited<ReturnType<typeof welcomedAgent>> | undefined;
  try {
    worker = await welcomedAgent((connect) => new WorkerAgent({ id: 'w1', token: 'secret', url: 'memory://hub', connect }));
    process.env[name] = 'changed-later';
    const { socket, channel } = worker;
    const output = (job: string) =>
      socket.batches
        .flat()
        .filter((f) => f.t === 'output' && f.re === job)
        .map((f) => Buffer.from((f as Extract<Frame, { t: 'output' }>).data).toString())
        .join('');
    channel.receive(encodeFrame(frame('exec', { id: 'j1', cmd: `printf '%s|%s' "$${name}" "$EXTRA"`, env: { EXTRA: 'job' }, outputCredit: 65_536 })));
    await socket.written((f) => f.t === 'exit' && f.re === 'j1');
    assert.is(output('j1'), 'at-creation|job');
  } finally {
    delete process.env[name];
    await worker?.stop();
  }
});

test("a worker's exec: `started` with its busy `state` in one write, `exit` with its idle `state` in another", async () => {
  const { socket, channel, stop } = await welcomedAgent((connect) => new WorkerAgent({ id: 'w1', token: 'secret', url: 'memory://hub', connect }));
  try {
    const before = socket.batches.length;
    channel.receive(encodeFrame(frame('exec', { id: 'j1', cmd: ['true'], outputCredit: 65_536 })));
    await socket.written((f) => f.t === 'exit');
    await socket.written((f) => f.t === 'state' && f.value === 'connected.idle' && !socket.batches.slice(0, before).some((batch) => batch.includes(f)));
    const job = socket.batches.slice(before).map((batch) => batch.map((f) => (f.t === 'state' ? `state ${f.value}` : f.t)));
    assert.equal(job, [
      ['started', 'state connected.busy'],
      ['exit', 'state connected.idle'],
    ]);
  } finally {
    await stop();
  }
});

test("an exec told `started: false`: no `started`, and its busy `state` leaves with `exit` and idle, in one write", async () => {
  // Before, the worker sent `started` anyway (it ignored the field), with busy in a write of its own (issue 13).
  const { socket, channel, stop } = await welcomedAgent((connect) => new WorkerAgent({ id: 'w1', token: 'secret', url: 'memory://hub', connect }));
  try {
    const before = socket.batches.length;
    channel.receive(encodeFrame(frame('exec', { id: 'j1', cmd: ['true'], outputCredit: 65_536, started: false })));
    await socket.written((f) => f.t === 'state' && f.value === 'connected.idle' && !socket.batches.slice(0, before).some((batch) => batch.includes(f)));
    const job = socket.batches.slice(before).map((batch) => batch.map((f) => (f.t === 'state' ? `state ${f.value}` : f.t)));
    assert.equal(job, [['state connected.busy', 'exit', 'state connected.idle']]);
  } finally {
    await stop();
  }
});

test('a busy worker with nothing to write reports `connected.busy` on its own within BUSY_REPORT_WAIT_MS', async () => {
  const { socket, channel, stop } = await welcomedAgent((connect) => new WorkerAgent({ id: 'w1', token: 'secret', url: 'memory://hub', connect, exec: { graceMs: 10 } }));
  try {
    const before = socket.batches.length;
    channel.receive(encodeFrame(frame('exec', { id: 'j1', cmd: ['sleep', '30'], outputCredit: 65_536, started: false })));
    await socket.written((f) => f.t === 'state' && f.value === 'connected.busy');
    assert.equal(socket.batches.slice(before), [[frame('state', { value: 'connected.busy' })]], 'busy alone, while the command runs');
    channel.receive(encodeFrame(frame('cancel', { re: 'j1' })));
    await socket.written((f) => f.t === 'exit');
  } finally {
    await stop();
  }
});

/**
 * An action answered within the turn it came in, by a handler that sends a frame at once and answers a
 * few promise jobs later (the fs plugin's `plan_cleanup`: `action_info`, `resources_flag`, `action_done`).
 * `from`: the callback the frame is read in: a macrotask, as a socket read is, or a promise job.
 */
async function quickAction(from: 'macrotask' | 'promise job'): Promise<string[][]> {
  const actions = new ActionExtension(new SubscriptionRegistry('w1'));
  actions.on('plan', async (ctx) => {
    ctx.info('info', 'planning');
    ctx.flag('fs', await Promise.resolve(['/a']));
  });
  const { socket, channel, stop } = await welcomedAgent((connect) => new WorkerAgent({ id: 'w1', token: 'secret', url: 'memory://hub', connect, extensions: [actions] }));
  try {
    const before = socket.batches.length;
    const bytes = encodeFrame(frame('action', { id: 'run-1.1', action: 'plan', run: 'run-1', step: 'plan', data: {} }));
    if (from === 'macrotask') setImmediate(() => channel.receive(bytes));
    else void Promise.resolve().then(() => channel.receive(bytes));
    await socket.written((f) => f.t === 'action_done');
    // Two more turns: a state frame the answer set off would be written by then.
    for (let i = 0; i < 2; i += 1) await new Promise((resolve) => setImmediate(resolve));
    return socket.batches.slice(before).map((batch) => batch.map((f) => (f.t === 'state' ? `state ${f.value}` : f.t)));
  } finally {
    await stop();
  }
}

test('an action answered within its turn writes its frames in one write and no `state`, whether it came in a socket read or a promise job', async () => {
  // Before, a frame read in a macrotask (a socket read) had the turn's first write uncorked on a tick that
  // ran before the handler's promise jobs: the flush hook found the action still running and reported
  // busy, then idle (`action_info`, `state busy` | `resources_flag`, `action_done`, `state idle`), while
  // the same frame read in a promise job (the replay harness) wrote neither (collect-and-cleanup).
  const expected = [['action_info', 'resources_flag', 'action_done']];
  assert.equal(await quickAction('macrotask'), expected);
  assert.equal(await quickAction('promise job'), expected);
});

test.run();
