/**
 * Regenerates test/replay/fixtures/ by running each scenario with the real code over real websockets:
 * `Hub.start()` on port 0, real `WorkerAgent`s, `registerWorker`, `AdminClient`, with the deterministic
 * sources of scenario-setup.ts and a `FrameRecorder` on the hub and on the recorded worker.
 *
 *   node --import tsx test/replay/record-fixtures.ts [NAME...]
 *
 * Each scenario runs in a child process of its own, so connection ids (`c1`, `h2`, ...) start from 1
 * and a regenerated fixture differs from the old one only in times and pids. Files are overwritten, then
 * replayed once (harness.ts) so a scenario that does not replay is caught here, not in CI.
 *
 * `collect-and-cleanup` also needs test/replay's fixed folder tree (replay-tree.ts, recreated at
 * /tmp/cla-replay-tree before the recording and before every worker replay) and a clock that starts at
 * SCENARIO_EPOCH (scenario-setup.ts `recordingClock`).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, toArray } from 'rxjs';
import { WebSocket } from 'ws';
import type { Clock } from '../../src/clock.ts';
import { ClaError } from '../../src/errors.ts';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { Hub } from '../../src/hub/hub.ts';
import type { JobEvent } from '../../src/hub/job-events.ts';
import { decodeRaw } from '../../src/protocol/codec.ts';
import { FrameRecorder, readRecording, type RecordLine } from '../../src/transport/recorder.ts';
import type { Direction, FrameTap, Transport } from '../../src/transport/transport.ts';
import { connectWs } from '../../src/transport/ws-client.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import { registerWorker } from '../../src/worker/registration.ts';
import { TaskExtension } from '../../src/worker/tasks/task-extension.ts';
import { replayHub, replayWorker } from './harness.ts';
import { REPLAY_TREE, SCENARIO_EPOCH, expectedTreeAfterCleanup, listTree } from './replay-tree.ts';
import {
  EXEC_COMMAND,
  FIXTURE_DIR,
  FIXTURES,
  GARBAGE,
  HUB_OPTIONS,
  LONG_COMMAND,
  OTHER_WORKER_ID,
  TAGS,
  WORKER_ID,
  WORKFLOW,
  applyHubMark,
  applyWorkerMark,
  expectedWorkerToken,
  hubDeps,
  hubRecording,
  prepareWorkerSide,
  recordedWorkerOptions,
  recordingClock,
  scenarioHub,
  seedRegistry,
  taskWorkerExtensions,
  workerExtensions,
  workerRecording,
  type FixtureName,
  type HubMark,
  type WorkerMark,
} from './scenario-setup.ts';

/** A recorder that also counts connections, so the script can wait for the hub to see a close. */
class CountingRecorder implements FrameTap {
  opened = 0;
  closed = 0;
  /** `dir t` of every frame, decoded (`out task_done`), for the script to wait on. */
  readonly frames: string[] = [];
  private readonly recorder: FrameRecorder;

  constructor(
    private readonly file: string,
    role: string,
    private readonly clock: Clock,
  ) {
    fs.rmSync(file, { force: true }); // FrameRecorder appends
    this.recorder = new FrameRecorder(file, clock, role);
  }

  /**
   * Writes a `meta` line saying what the script does next through the hub's API (scenario-setup.ts
   * `HubMark`), for the hub replay to do it again there. FrameRecorder writes only its first meta line;
   * this appends to the same file, which it opened in append mode and writes synchronously, so the line
   * lands between the frames before and after it.
   */
  mark(detail: string): void {
    const line: RecordLine = { at: this.clock.now(), conn: '-', event: 'meta', detail };
    fs.appendFileSync(this.file, `${JSON.stringify(line)}\n`);
  }

  frame(connection: string, direction: Direction, bytes: Uint8Array): void {
    this.recorder.frame(connection, direction, bytes);
    try {
      this.frames.push(`${direction} ${(decodeRaw(bytes) as { t?: unknown }).t}`);
    } catch {
      this.frames.push(`${direction} <garbage>`);
    }
  }

  /** How many frames `dir t` (e.g. `out subscribe`) crossed so far. */
  count(frame: string): number {
    return this.frames.filter((f) => f === frame).length;
  }

  event(connection: string, event: 'open' | 'close', detail: string): void {
    this.recorder.event(connection, event, detail);
    if (event === 'open') this.opened += 1;
    else this.closed += 1;
  }

  /** Resolves once exactly `open` connections are still open. */
  settled(open = 0): Promise<void> {
    return until(() => this.opened - this.closed === open, `${open} open connection(s)`);
  }

  close(): void {
    this.recorder.close();
  }
}

/** Polls `condition` (real time: this script runs real sockets and processes). */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function expectCode(error: unknown, code: string): void {
  if (!(error instanceof ClaError) || error.code !== code) throw new Error(`Expected ${code}, got ${String(error)}`);
}

/** A hub listening on port 0 with a recorder; `finish()` stops it and closes the recorder. */
async function startHub(name: FixtureName) {
  const clock = recordingClock(name);
  const seeded = await seedRegistry(clock);
  const tap = new CountingRecorder(hubRecording(name), 'hub', clock);
  const built = scenarioHub(name, seeded, clock);
  const hub = new Hub({ ...HUB_OPTIONS, port: 0 }, hubDeps(seeded, clock, tap, built.extensions));
  const url = await hub.start();
  const registration = await registerWorker({ url, passkey: seeded.passkey, id: WORKER_ID });
  if (registration.token !== (await expectedWorkerToken(clock))) {
    throw new Error('The registration token differs from scenario-setup.expectedWorkerToken(): the replay could not rebuild it');
  }
  await tap.settled();
  return {
    url,
    hub,
    tap,
    seeded,
    clock,
    built,
    token: registration.token,
    async finish() {
      await hub.stop();
      await tap.settled();
      tap.close();
      await seeded.store.close();
    },
  };
}

/** A recorded worker, on the hub's clock, whose connections the script can reach (to drop one). */
async function startWorker(name: FixtureName, url: string, token: string, clock: Clock) {
  prepareWorkerSide(name);
  const tap = new CountingRecorder(workerRecording(name), 'worker', clock);
  let current: Transport | undefined;
  const extensions = await workerExtensions(name, clock);
  const agent = new WorkerAgent({
    ...recordedWorkerOptions(name, url, token),
    clock,
    extensions,
    connect: (target) => connectWs(target, { tap }).then((transport) => (current = transport)),
  });
  const exited = agent.run();
  const connected = () => JSON.stringify(agent.state()).includes('connected');
  const tasks = extensions.find((extension): extension is TaskExtension => extension instanceof TaskExtension);
  return { agent, tap, exited, connected, transport: () => current, tasks };
}

/**
 * The second task worker of a scenario, not recorded on its side (the hub recording has its frames): it
 * registers over the wire like the first, so the hub replay registers it again with the same token.
 */
async function startOtherWorker(hub: Awaited<ReturnType<typeof startHub>>, filter: Record<string, string[]> = {}) {
  const { token } = await registerWorker({ url: hub.url, passkey: hub.seeded.passkey, id: OTHER_WORKER_ID });
  const agent = new WorkerAgent({ ...recordedWorkerOptions('task-push', hub.url, token), id: OTHER_WORKER_ID, clock: hub.clock, extensions: taskWorkerExtensions(OTHER_WORKER_ID, hub.clock, false, filter) });
  const exited = agent.run();
  await until(() => hub.tap.count('in subscribe') >= 2, `${OTHER_WORKER_ID} to subscribe`);
  return { agent, exited };
}

/** A task scenario's start: the hub, the recorded worker subscribed to `tag`, and an admin client. */
async function startTaskScenario(name: FixtureName) {
  const hub = await startHub(name);
  const worker = await startWorker(name, hub.url, hub.token, hub.clock);
  await until(() => worker.tap.count('out subscribe') === 1, 'the worker to subscribe');
  const admin = await AdminClient.connect(hub.url, hub.seeded.adminToken);
  return { hub, worker, admin };
}

/** Submits a `tag` task through the hub's method table over the admin websocket, as `cla-hub task submit` does. */
async function submitTag(admin: AdminClient, data: Record<string, unknown>, attrs: Record<string, string> = {}): Promise<string> {
  return (await admin.call<{ id: string }>('tasks.submit', { name: 'tag', attrs, data })).id;
}

/** Waits for a task's end through the library API (no frames) and checks it. */
async function expectTask(hub: Awaited<ReturnType<typeof startHub>>, id: string, state: string, detail: string): Promise<void> {
  const row = await hub.built.tasks!.wait(id);
  const got = `${row.state} ${JSON.stringify(row.state === 'done' ? row.result : row.error?.code)}`;
  if (got !== `${state} ${detail}`) throw new Error(`Expected ${id} to be ${state} ${detail}, got ${got}`);
}

const scenarios: Record<FixtureName, () => Promise<void>> = {
  async 'register-and-exec'() {
    const hub = await startHub('register-and-exec');
    const worker = await startWorker('register-and-exec', hub.url, hub.token, hub.clock);
    await until(worker.connected, 'the worker to be welcomed');
    const admin = await AdminClient.connect(hub.url, hub.seeded.adminToken);
    const events = await lastValueFrom(admin.run({ worker: WORKER_ID }, { kind: 'exec', cmd: EXEC_COMMAND }).pipe(toArray()));
    const exit = events.at(-1);
    if (exit?.type !== 'exit' || exit.code !== 3) throw new Error(`Unexpected job events ${JSON.stringify(events)}`);
    admin.close();
    await hub.tap.settled(1);
    await hub.finish();
    // The hub saw its side close; wait for the worker to see it too, or `stop()` would make it say `bye`.
    await worker.tap.settled();
    worker.agent.stop();
    await worker.exited;
    worker.tap.close();
  },

  async refusals() {
    const hub = await startHub('refusals');
    // Hello with a wrong token: BAD_TOKEN, close 4001, the worker gives up. This worker's side is recorded.
    const badToken = await startWorker('refusals', hub.url, hub.token, hub.clock);
    const refused = await badToken.exited;
    if (refused.error?.code !== 'BAD_TOKEN') throw new Error(`Expected BAD_TOKEN, got ${JSON.stringify(refused)}`);
    badToken.tap.close();
    await hub.tap.settled();
    // Hello with an environment the hub does not know: UNKNOWN_ENV, close 4003.
    const unknownEnv = new WorkerAgent({ ...recordedWorkerOptions('refusals', hub.url, hub.token), token: hub.token, envs: ['staging'] });
    const unknown = await unknownEnv.run();
    if (unknown.error?.code !== 'UNKNOWN_ENV') throw new Error(`Expected UNKNOWN_ENV, got ${JSON.stringify(unknown)}`);
    await hub.tap.settled();
    // An admin run that no connected worker matches.
    const admin = await AdminClient.connect(hub.url, hub.seeded.adminToken);
    await lastValueFrom(admin.run({ tags: ['gpu'] }, { kind: 'exec', cmd: 'true' })).then(
      () => Promise.reject(new Error('Expected NO_WORKER')),
      (error: unknown) => expectCode(error, 'NO_WORKER'),
    );
    admin.close();
    await hub.tap.settled();
    // Bytes that are not msgpack: the hub answers BAD_FRAME and keeps the connection.
    const raw = new WebSocket(hub.url);
    await new Promise((resolve, reject) => raw.once('open', resolve).once('error', reject));
    const answered = new Promise((resolve) => raw.once('message', resolve));
    raw.send(GARBAGE, { binary: true });
    await answered;
    raw.close(1000, 'done');
    await hub.tap.settled();
    // A connection that never says hello: HELLO_TIMEOUT after HUB_OPTIONS.helloTimeoutMs, close 4004.
    const silent = await connectWs(hub.url, { silenceTimeoutMs: 0 });
    const closed = await silent.closed;
    if (closed.code !== 4004) throw new Error(`Expected close 4004, got ${JSON.stringify(closed)}`);
    await hub.tap.settled();
    await hub.finish();
  },

  async 'disconnect-mid-job'() {
    const hub = await startHub('disconnect-mid-job');
    const worker = await startWorker('disconnect-mid-job', hub.url, hub.token, hub.clock);
    await until(worker.connected, 'the worker to be welcomed');
    const admin = await AdminClient.connect(hub.url, hub.seeded.adminToken);
    const failed = new Promise<unknown>((resolve, reject) => {
      admin.run({ tags: TAGS }, { kind: 'exec', cmd: LONG_COMMAND }).subscribe({
        next: (event: JobEvent) => {
          // The command runs: drop the worker's connection under it, as a network failure would.
          if (event.type === 'started') worker.transport()?.terminate();
        },
        error: resolve,
        complete: () => reject(new Error('Expected WORKER_LOST, the job completed')),
      });
    });
    expectCode(await failed, 'WORKER_LOST');
    admin.close();
    await hub.tap.settled();
    // The worker reconnects after its backoff (backoffBaseMs / 2 with the fixed jitter) and is welcomed.
    await until(() => worker.tap.opened === 2 && worker.connected(), 'the worker to reconnect');
    await hub.tap.settled(1);
    await hub.finish();
    // The hub saw its side close; wait for the worker to see it too, or `stop()` would make it say `bye`.
    await worker.tap.settled();
    worker.agent.stop();
    await worker.exited;
    worker.tap.close();
  },

  async 'collect-and-cleanup'() {
    const hub = await startHub('collect-and-cleanup');
    const actions = hub.built.actions!;
    const worker = await startWorker('collect-and-cleanup', hub.url, hub.token, hub.clock);
    await until(() => actions.bus.subscribersOf('collect').length === 1, 'the worker to subscribe to collect');
    // Through the engine's library API (what `cla-hub workflow run` ends up calling), marked first so the
    // hub replay starts the run at the same point.
    const mark: HubMark = { trigger: 'workflow.run', workflow: WORKFLOW };
    hub.tap.mark(JSON.stringify(mark));
    applyHubMark(hub.built, JSON.stringify(mark));
    await actions.engine.whenIdle();
    const detail = await actions.store.getRun('run-1');
    const steps = detail.steps.map((step) => `${step.name}:${step.state}`).join(' ');
    if (detail.run.state !== 'succeeded' || steps !== 'collect:succeeded plan_cleanup:succeeded cleanup:succeeded') {
      throw new Error(`Expected run-1 to succeed in three steps, got ${detail.run.state}: ${steps}`);
    }
    const left = listTree();
    if (JSON.stringify(left) !== JSON.stringify(expectedTreeAfterCleanup())) throw new Error(`Unexpected tree after cleanup:\n${left.join('\n')}`);
    checkCollectTime(readRecording(workerRecording('collect-and-cleanup')));
    await hub.finish();
    // The hub saw its side close; wait for the worker to see it too, or `stop()` would make it say `bye`.
    await worker.tap.settled();
    worker.agent.stop();
    await worker.exited;
    worker.tap.close();
  },

  /**
   * Push, done, failed, rejected: task-1 is done and task-2 fails (both pushed at once: one runs, one
   * waits in the queue); then task-3 runs while task-4 waits, and the worker is stopped: it says `bye`,
   * hands task-4 back (`task_rejected`, pending again), finishes task-3 and closes.
   */
  async 'task-push'() {
    const { hub, worker, admin } = await startTaskScenario('task-push');
    const first = await submitTag(admin, { n: 1, ms: 50 });
    const second = await submitTag(admin, { n: 2, ms: 50, fail: true });
    await expectTask(hub, first, 'done', JSON.stringify({ tagged: 1, by: WORKER_ID }));
    await expectTask(hub, second, 'failed', '"INVALID_ARGUMENT"');
    const third = await submitTag(admin, { n: 3, ms: 250 });
    const fourth = await submitTag(admin, { n: 4 });
    await until(() => worker.tasks!.heldCount() === 2, 'the worker to hold task-3 and task-4');
    // Marked first, so the worker replay stops at the same point (scenario-setup.ts `WorkerMark`).
    const mark: WorkerMark = { trigger: 'worker.stop', reason: 'replay scenario stops the worker' };
    worker.tap.mark(JSON.stringify(mark));
    applyWorkerMark(worker.agent, JSON.stringify(mark));
    await expectTask(hub, third, 'done', JSON.stringify({ tagged: 3, by: WORKER_ID }));
    await worker.exited;
    await until(async () => (await hub.built.tasks!.get(fourth))?.state === 'pending', 'task-4 to be pending again');
    admin.close();
    await hub.tap.settled();
    await hub.finish();
    worker.tap.close();
  },

  /**
   * A lease lost with its worker: task-1 runs on the recorded worker when its connection drops (as a
   * network failure would); the hub releases the lease and pushes the task to the other worker, which
   * completes it. The recorded worker reconnects and subscribes again.
   */
  async 'task-lease-lost'() {
    const { hub, worker, admin } = await startTaskScenario('task-lease-lost');
    const id = await submitTag(admin, { n: 1, ms: 60_000 });
    await until(() => worker.tasks!.heldCount() === 1, 'the worker to hold task-1');
    // Its busy leaves alone, BUSY_REPORT_WAIT_MS after the push (agent.ts): dropped around that time, the
    // connection would carry it or not as wall time has it, while the replay's clock decides it exactly.
    await until(() => worker.tap.count('out state') === 2, 'the worker to report connected.busy');
    const other = await startOtherWorker(hub);
    worker.transport()?.terminate();
    await expectTask(hub, id, 'done', JSON.stringify({ tagged: 1, by: OTHER_WORKER_ID }));
    // Reconnects after its backoff (backoffBaseMs / 2 with the fixed jitter) and subscribes again.
    await until(() => worker.tap.count('out subscribe') === 2, 'the worker to reconnect and subscribe');
    admin.close();
    await hub.tap.settled(2);
    await finishBoth(hub, worker, [other]);
  },

  /**
   * A stale completion refused: the recorded worker completes task-1 in 100 ms, but the hub stops reading
   * its socket right after the push (a congested link holds its frames). The lease runs out (900 ms), the
   * hub revokes it and pushes the task to the other worker, which joined meanwhile with a more specific
   * handler (`cloud: aws`; task-selection.ts prefers it), and completes it; then the hub reads again: the
   * held `task_done` carries the old lease and is refused with STALE_LEASE. Done once, by the other.
   */
  async 'task-stale-lease'() {
    const { hub, worker, admin } = await startTaskScenario('task-stale-lease');
    const id = await submitTag(admin, { n: 1, ms: 100 }, { cloud: 'aws' });
    await until(() => worker.tasks!.heldCount() === 1, 'the worker to hold task-1');
    const link = hub.hub.session(WORKER_ID)!.transport;
    link.pause();
    const other = await startOtherWorker(hub, { cloud: ['aws'] });
    await expectTask(hub, id, 'done', JSON.stringify({ tagged: 1, by: OTHER_WORKER_ID }));
    if (worker.tap.count('out task_done') !== 1) throw new Error('The recorded worker had not sent its (now stale) task_done yet');
    link.resume();
    await until(() => worker.tap.count('in error') === 1, 'the STALE_LEASE refusal');
    admin.close();
    await hub.tap.settled(2);
    await finishBoth(hub, worker, [other]);
  },

};

/** Stops the hub, then the recorded worker once it saw the close (else `stop()` would make it say `bye`). */
async function finishBoth(hub: Awaited<ReturnType<typeof startHub>>, worker: Awaited<ReturnType<typeof startWorker>>, others: Array<{ agent: WorkerAgent; exited: Promise<unknown> }> = []): Promise<void> {
  await hub.finish();
  await worker.tap.settled();
  worker.agent.stop();
  await worker.exited;
  worker.tap.close();
  for (const other of others) {
    other.agent.stop();
    await other.exited;
  }
}


/**
 * The fs plugin's `age_s` is whole seconds of (now - mtime), and the tree's mtimes are whole seconds
 * before SCENARIO_EPOCH: the recorded ages are the tree's offsets exactly (what replay.test.ts checks)
 * only when `collect` started within the clock's first second. The plugin reads the clock a moment after
 * the recorder stamped the `action` frame, and the replay's clock stands exactly at that stamp: keep a
 * margin so both readings fall in the same second.
 */
function checkCollectTime(lines: RecordLine[]): void {
  const collect = lines.find((line) => 'dir' in line && line.dir === 'in' && (decodeRaw(Buffer.from(line.b64, 'base64')) as { action?: unknown }).action === 'collect');
  if (!collect) throw new Error('The worker recording has no collect action');
  const elapsed = collect.at - SCENARIO_EPOCH;
  if (elapsed >= 900) throw new Error(`The worker got collect ${elapsed} ms after the clock started (900 ms at most): record again on a less busy machine`);
}

// `--child NAME`: the one-scenario process the loop below starts (a plain single NAME is a user's
// request, which must be replayed too).
const CHILD_FLAG = '--child';
const requested = process.argv.slice(2);
if (requested[0] === CHILD_FLAG && (FIXTURES as readonly string[]).includes(requested[1] ?? '')) {
  await scenarios[requested[1] as FixtureName]();
  process.exit(0); // the killed `sleep` may leave a kill-escalation timer behind; nothing else is pending
} else {
  for (const name of requested.length ? requested : FIXTURES) {
    if (!(FIXTURES as readonly string[]).includes(name)) throw new Error(`Unknown fixture ${name}; known: ${FIXTURES.join(', ')}`);
    fs.mkdirSync(FIXTURE_DIR, { recursive: true });
    const run = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), CHILD_FLAG, name], { stdio: 'inherit' });
    if (run.status !== 0) throw new Error(`Recording ${name} failed (${run.status ?? run.signal})`);
    // A recording that does not replay is useless as a fixture: check both sides at once.
    const hubSide = await replayHub(hubRecording(name));
    const workerSide = fs.existsSync(workerRecording(name)) ? await replayWorker(workerRecording(name)) : undefined;
    for (const [side, result] of [['hub', hubSide], ['worker', workerSide]] as const) {
      if (result && !result.ok) {
        console.error(`--- recorded\n${result.expected}\n--- replayed\n${result.actual}\n${result.problems.join('\n')}`);
        throw new Error(`The ${side} side of ${name} does not replay: the scenario is not deterministic`);
      }
    }
    fs.rmSync(REPLAY_TREE, { recursive: true, force: true }); // left by collect-and-cleanup (recording and replay)
    const written = [hubRecording(name), ...(workerSide ? [workerRecording(name)] : [])].map((file) => path.relative(process.cwd(), file));
    console.log(`recorded ${name}: ${written.join(', ')}`);
  }
}
