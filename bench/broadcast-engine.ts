/**
 * The hub's own part of a broadcast round, without the transport (issue 9): the real `ActionsExtension`
 * (workflow engine, step and run machines, action bus, SQLite stores with group commit) on a SQLite file
 * in a temp folder, and `--subscribers` fake worker sessions that only note the `action` frame they are
 * given. A round is bench/broadcast.ts's one-step run: the broadcast, every subscriber's `action_done`
 * fed through `workerFrame` in `--turns` turns of the event loop (a real hub reads a round's answers over
 * several turns), the step and run ended and committed.
 *
 * What it reports is the CPU of this process per round (the WAL checkpoint thread included): the part of
 * the hub's CPU per round that our code decides, with far less noise than the end-to-end benchmark, whose
 * hub CPU is two thirds kernel, Node streams and ws (bench/RESULTS.md, bcast5 to bcast7). Nothing asserts
 * on time; a round fails only if its run does not succeed.
 *
 * Usage: node --import tsx bench/broadcast-engine.ts [--subscribers 1000] [--rounds 200] [--warmup 50] [--turns 4]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../src/errors.ts';
import { ActionsExtension } from '../src/hub/actions/actions-extension.ts';
import { toWorkflowDefinition } from '../src/hub/actions/workflow-definitions.ts';
import type { WorkerSession } from '../src/hub/worker-session.ts';
import type { EncodedFrame } from '../src/protocol/codec.ts';
import { frame, type Frame } from '../src/protocol/frames.ts';
import { openSqliteStore } from '../src/store/sqlite-store.ts';

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`Expected \`--${name}\` to be a positive integer, got \`${raw}\``);
  return n;
}

/** The `action` frames given to the fake sessions since the last take: whom, and the message id. */
const sent: Array<{ session: WorkerSession; id: string }> = [];

/** A worker session as the action bus and the subscriber directory use one: it only notes what it is sent. */
function fakeSession(workerId: string): WorkerSession {
  const session = {
    info: { workerId },
    isDisabled: () => false,
    onChange: () => () => undefined,
    send: (f: Frame) => {
      if (f.t === 'action') sent.push({ session: session as unknown as WorkerSession, id: f.id });
      return Promise.resolve();
    },
    sendEncodedQuietly: (encoded: EncodedFrame) => {
      if (encoded.frame.t === 'action') sent.push({ session: session as unknown as WorkerSession, id: encoded.frame.id });
    },
  };
  return session as unknown as WorkerSession;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { subscribers: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '200' }, warmup: { type: 'string', default: '50' }, turns: { type: 'string', default: '4' } },
  });
  const subscribers = positive('subscribers', values.subscribers);
  const rounds = positive('rounds', values.rounds);
  const warmup = positive('warmup', values.warmup);
  const turns = positive('turns', values.turns);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-engine-'));
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  const workflows = new Map([['bench', toWorkflowDefinition({ name: 'bench', steps: [{ name: 'bench', action: 'bench', timeout: '60s' }], on_conflict: 'parallel' }, 'bench')]]);
  const ext = new ActionsExtension({ db: store.db, workflows, cron: false });
  try {
    await ext.start();
    for (let i = 0; i < subscribers; i++) {
      const session = fakeSession(`worker-${String(i).padStart(6, '0')}`);
      ext.workerFrame(
        session,
        frame('subscribe', { subscriberId: session.info.workerId, actions: [{ action: 'bench', waitForCompletion: true, timeoutMs: 60_000 }], tasks: [], taskCapacity: 1 }),
      );
    }

    const round = async (): Promise<void> => {
      sent.length = 0;
      const { run } = await ext.engine.runManual('bench');
      const actions = sent.splice(0);
      if (actions.length !== subscribers) throw new Error(`the broadcast reached ${actions.length} of ${subscribers} subscribers`);
      for (let turn = 0; turn < turns; turn++) {
        await nextTurn();
        const end = Math.floor(((turn + 1) * actions.length) / turns);
        for (let k = Math.floor((turn * actions.length) / turns); k < end; k++) ext.workerFrame(actions[k]!.session, frame('action_done', { re: actions[k]!.id }));
      }
      await ext.engine.whenIdle();
      const state = (await ext.store.getStoredRun(run))?.state;
      if (state !== 'succeeded') throw new Error(`run ${run} ended ${state}`);
    };

    for (let r = 0; r < warmup; r++) await round();
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    for (let r = 0; r < rounds; r++) await round();
    const cpu = process.cpuUsage(cpuStart);
    const wallMs = performance.now() - start;
    console.log(
      `${subscribers} subscribers, ${rounds} rounds after ${warmup}, answers in ${turns} turns: ` +
        `CPU ${((cpu.user + cpu.system) / 1000 / rounds).toFixed(2)} ms/round (system ${(cpu.system / 1000 / rounds).toFixed(2)}), wall ${(wallMs / rounds).toFixed(2)} ms/round`,
    );
  } finally {
    await ext.stop();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
