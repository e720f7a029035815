/**
 * Replays a recording (src/transport/recorder.ts) through a fresh hub or worker and compares what it
 * sends with what the recorded one sent. Time is an xstate `SimulatedClock`, advanced by each line's
 * recorded delta before the line is played, so timers (hello timeout, reconnect backoff) fire where the
 * recording shows their effect. The harness plays every other party: for each recorded connection it
 * holds a {@link ScriptedPeer}, feeds the recorded incoming bytes, and closes the connection at the
 * recorded close if the machine has not closed it itself. Each side is built as its scenario says
 * (scenario-setup.ts): hub extensions, worker extensions, files on disk; a hub recording's marks (what
 * the recording script did through the hub's API, such as starting a workflow run) are done again at
 * their recorded time.
 */
import path from 'node:path';
import { SimulatedClock } from 'xstate';
import type { RunDetail } from '../../src/hub/actions/workflow-store.ts';
import type { TaskView } from '../../src/hub/tasks/task-store.ts';
import { Hub, type HubOptions } from '../../src/hub/hub.ts';
import { decodeRaw, encodeFrame } from '../../src/protocol/codec.ts';
import type { Frame } from '../../src/protocol/frames.ts';
import { readRecording, type RecordLine } from '../../src/transport/recorder.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { WorkerAgent, type AgentExit } from '../../src/worker/agent.ts';
import {
  FIXTURES,
  HUB_OPTIONS,
  applyHubMark,
  applyWorkerMark,
  expectedWorkerToken,
  hubDeps,
  prepareWorkerSide,
  recordedWorkerOptions,
  scenarioHub,
  seedRegistry,
  workerExtensions,
  type FixtureName,
} from './scenario-setup.ts';
import { REPLAY_TREE, pathMapper } from './replay-tree.ts';
import { ScriptedPeer } from './scripted-peer.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { HUB_NORMALISED, WORKER_NORMALISED, describeExact, recordedTranscript, transcriptText, type NormalisedField, type Transcript } from './transcript.ts';

/** The outcome of one replay. */
export interface ReplayResult {
  /** True when every connection's transcript matches and there are no `problems`. */
  ok: boolean;
  /** The recorded side, one line per outgoing frame or close, grouped by connection. */
  expected: string;
  /** The same for the replay. */
  actual: string;
  /** Differences the transcripts cannot show (a connection never dialled, extra dials). */
  problems: string[];
  /** What the replayed side sent, decoded and not normalised, in the order sent per connection. */
  sent: Array<{ conn: string; frame: unknown }>;
}

/** The worker replay also reports how the agent ended, if it did so by itself. */
export interface WorkerReplayResult extends ReplayResult {
  exit: AgentExit | undefined;
}

/**
 * The hub replay also reports the workflow runs its store holds at the end (none without the actions
 * extension) and the tasks (none without the task dispatcher), oldest first.
 */
export interface HubReplayResult extends ReplayResult {
  runs: RunDetail[];
  tasks: TaskView[];
}

export interface HubReplayOptions {
  /** Which scenario's hub to build; taken from the file name (`NAME.hub.rec`) when omitted. */
  scenario?: FixtureName;
  /** Overrides of the scenario's hub options. */
  hub?: HubOptions;
}

export interface WorkerReplayOptions {
  /**
   * Where the worker's files (the fs plugin's tree) are built; the recorded {@link REPLAY_TREE} in frames
   * is mapped to it both ways. @default a fresh temp folder, removed after the replay
   */
  treeRoot?: string;
  /** Which scenario's worker to build; taken from the file name (`NAME.worker.rec`) when omitted. */
  scenario?: FixtureName;
  /** Longest real time to wait for a frame the recording says the worker sent, in ms (reached only when it never comes). @default 10000 */
  frameWaitMs?: number;
  /** Longest real pause kept between two lines, in ms (see `paceMs` in walk()). @default 1000 */
  maxPauseMs?: number;
}

/** Replays a hub-side recording through a new hub with the scenario's seeded registry and extensions. */
export async function replayHub(source: string | RecordLine[], options: HubReplayOptions = {}): Promise<HubReplayResult> {
  const lines = load(source);
  const scenario = options.scenario ?? scenarioOf(source, 'hub');
  const clock = startClock(lines);
  const seeded = await seedRegistry(clock);
  const built = scenarioHub(scenario, seeded, clock);
  const hub = new Hub({ ...HUB_OPTIONS, ...options.hub }, hubDeps(seeded, clock, undefined, built.extensions));
  // What Hub.start() does before it listens; the replay feeds connections itself, so it never listens.
  for (const extension of built.extensions) await extension.start?.(hub);
  try {
    const peers = await walk(lines, clock, {
      // The hub answers once its store committed (a few `setImmediate` turns with the task dispatcher):
      // wait for a recorded frame up to that long (a ceiling for a loaded machine, reached only when the frame never comes); a frame that is already there costs nothing.
      frameWaitMs: 10_000,
      maxPauseMs: 0,
      open: async (conn, remote) => {
        const peer = new ScriptedPeer(conn, remote);
        hub.accept(peer.channel);
        return peer;
      },
      meta: (detail) => applyHubMark(built, detail),
    });
    const store = built.actions?.store;
    const runs = store ? await Promise.all((await store.listRuns()).map((run) => store.getRun(run.id))) : [];
    const tasks = built.tasks ? (await built.tasks.list({ limit: 1000 })).sort((a, b) => a.seq - b.seq) : [];
    return { ...compare(lines, peers, HUB_NORMALISED, []), runs, tasks };
  } finally {
    // Extensions first: a workflow run writes its steps to the store on a later turn until stopped.
    for (const extension of built.extensions) await extension.stop?.();
    await seeded.store.close();
  }
}

/** Replays a worker-side recording through a new `WorkerAgent` that dials the harness (`connect`). */
export async function replayWorker(source: string | RecordLine[], options: WorkerReplayOptions = {}): Promise<WorkerReplayResult> {
  const lines = load(source);
  const scenario = options.scenario ?? scenarioOf(source, 'worker');
  const clock = startClock(lines);
  // The worker acts on real files (the fs plugin deletes some): every replay starts from the recorded
  // state, in a folder of its own.
  const temp = options.treeRoot === undefined ? tempDir('cla-replay-') : undefined;
  const treeRoot = options.treeRoot ?? path.join(temp!.dir, 'cla-replay-tree');
  try {
    return await replayWorkerIn(lines, scenario, clock, treeRoot, options);
  } finally {
    temp?.cleanup();
  }
}

async function replayWorkerIn(lines: RecordLine[], scenario: FixtureName, clock: SimulatedClock, treeRoot: string, options: WorkerReplayOptions): Promise<WorkerReplayResult> {
  prepareWorkerSide(scenario, treeRoot);
  const rewrite = treeRewrite(REPLAY_TREE, treeRoot);
  const dials: Array<(transport: Transport) => void> = [];
  const agent = new WorkerAgent({
    ...recordedWorkerOptions(scenario, 'ws://replay.invalid', (await expectedWorkerToken(clock))),
    clock,
    extensions: await workerExtensions(scenario, clock, treeRoot),
    connect: () => new Promise<Transport>((resolve) => dials.push(resolve)),
  });
  let exit: AgentExit | undefined;
  const exited = agent.run().then((value) => (exit = value));
  const frameWaitMs = options.frameWaitMs ?? 10_000;
  const peers = await walk(lines, clock, {
    frameWaitMs,
    maxPauseMs: options.maxPauseMs ?? 1000,
    open: async (conn, remote) => {
      await until(() => dials.length > 0, frameWaitMs);
      const resolve = dials.shift();
      if (!resolve) return undefined;
      const peer = new ScriptedPeer(conn, remote, rewrite);
      resolve(peer.channel);
      return peer;
    },
    meta: (detail) => applyWorkerMark(agent, detail),
  });
  const problems = dials.length > 0 ? [`the worker dialled ${dials.length} more time(s) than the recording has connections`] : [];
  const result = { ...compare(lines, peers, WORKER_NORMALISED, problems), exit };
  agent.stop('replay finished');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, frameWaitMs)))]);
  clearTimeout(timer); // else it holds the test process open after the last test
  return result;
}

interface WalkSide {
  /** Opens the replay's end of a recorded connection; `undefined` when the machine never dialled it. */
  open(conn: string, remote: string): Promise<ScriptedPeer | undefined>;
  /** Real time to wait for an outgoing frame the recording has, in ms. */
  frameWaitMs: number;
  /**
   * Longest real pause between lines, in ms. A worker runs real commands, which take real time: a
   * cancelled `sleep` must be gone before the simulated clock lets the worker reconnect, as it was in
   * the recording. So the worker replay waits the recorded gap in real time too (capped); the hub
   * replay, with no process of its own, runs at full speed.
   */
  maxPauseMs: number;
  /** A `meta` line after the first (the first says who recorded): a mark of the recording script (a hub action, a worker stop). */
  meta?(detail: string): void;
}

/** Plays the recording line by line; returns the peers by recorded connection id. */
async function walk(lines: RecordLine[], clock: SimulatedClock, side: WalkSide): Promise<Map<string, ScriptedPeer | undefined>> {
  const peers = new Map<string, ScriptedPeer | undefined>();
  const outgoing = new Map<string, number>();
  for (const [index, line] of lines.entries()) {
    // Whatever the previous line set off (a close notice, a timer it armed) happens before time moves.
    await settle();
    const delta = line.at - clock.now();
    if (delta > 0) {
      if (side.maxPauseMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(delta, side.maxPauseMs)));
      clock.increment(delta);
    }
    await settle();
    if ('event' in line) {
      if (line.event === 'open') peers.set(line.conn, await side.open(line.conn, line.detail));
      else if (line.event === 'meta') {
        if (index > 0) side.meta?.(line.detail);
      } else if (line.event === 'close') {
        const peer = peers.get(line.conn);
        const [code, ...reason] = line.detail.split(' ');
        if (peer && !peer.closed) peer.drop(Number(code), reason.join(' '));
      }
      continue;
    }
    const peer = peers.get(line.conn);
    if (!peer) continue;
    if (line.dir === 'in') peer.deliver(Buffer.from(line.b64, 'base64'));
    else {
      const count = (outgoing.get(line.conn) ?? 0) + 1;
      outgoing.set(line.conn, count);
      await until(() => peer.sent.length >= count, side.frameWaitMs);
    }
  }
  await settle();
  return peers;
}

function compare(lines: RecordLine[], peers: Map<string, ScriptedPeer | undefined>, rules: readonly NormalisedField[], problems: string[]): ReplayResult {
  const expected = recordedTranscript(lines, rules);
  const replayed: Transcript = new Map();
  const sent: ReplayResult['sent'] = [];
  for (const [conn, peer] of peers) {
    if (!peer) {
      problems.push(`[${conn}] the recording has this connection; the replayed worker never dialled it`);
      continue;
    }
    for (const bytes of peer.sent) sent.push({ conn, frame: decodeOrUndefined(bytes) });
    const out = peer.sent.map((bytes) => `[${conn}] ${describeExact(bytes, rules)}`);
    if (peer.closed) out.push(`[${conn}] close ${peer.closed.code}`);
    replayed.set(conn, out);
  }
  const conns = new Set([...expected.keys(), ...replayed.keys()]);
  const expectedText = transcriptText(expected, conns);
  const actualText = transcriptText(replayed, conns);
  return { ok: expectedText === actualText && problems.length === 0, expected: expectedText, actual: actualText, problems, sent };
}

/** Rewrites the tree's path in frames: recorded -> replayed on the way in, back on the way out. */
function treeRewrite(recorded: string, actual: string): { in(bytes: Uint8Array): Uint8Array; out(bytes: Uint8Array): Uint8Array } {
  const convert = (map: (value: unknown) => unknown, needle: string) => (bytes: Uint8Array) => {
    // Only frames that hold the path are re-encoded: the others (and garbage) stay byte for byte.
    if (!Buffer.from(bytes).includes(needle)) return Uint8Array.from(bytes);
    return encodeFrame(map(decodeRaw(bytes)) as Frame);
  };
  return { in: convert(pathMapper(recorded, actual), recorded), out: convert(pathMapper(actual, recorded), actual) };
}

function decodeOrUndefined(bytes: Uint8Array): unknown {
  try {
    return decodeRaw(bytes);
  } catch {
    return undefined; // shown as <undecodable ...> in the transcript
  }
}

function load(source: string | RecordLine[]): RecordLine[] {
  return typeof source === 'string' ? readRecording(source) : source;
}

function startClock(lines: RecordLine[]): SimulatedClock {
  const clock = new SimulatedClock();
  clock.set(lines[0]?.at ?? 0);
  return clock;
}

function scenarioOf(source: string | RecordLine[], side: 'hub' | 'worker'): FixtureName {
  const name = typeof source === 'string' ? path.basename(source).replace(side === 'hub' ? /\.hub\.rec$/ : /\.worker\.rec$/, '') : '';
  if (!(FIXTURES as readonly string[]).includes(name)) {
    throw new Error(`Cannot tell the scenario of ${typeof source === 'string' ? source : 'in-memory lines'}: pass options.scenario`);
  }
  return name as FixtureName;
}

/** Lets queued microtasks and promise chains run (delivery, close notices, `send().then(close)`). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** Waits, in real time, for something only a real process can cause; false when it did not happen. */
async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
  return condition();
}
