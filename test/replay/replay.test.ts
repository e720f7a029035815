/**
 * The recorded fixtures (test/replay/fixtures, made by record-fixtures.ts) replayed through a fresh hub
 * and a fresh worker: each must send the recorded frames again. See README.md in this folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { formatRecording } from '../../src/transport/recording-format.ts';
import { decodeRaw, encodeFrame } from '../../src/protocol/codec.ts';
import type { Frame } from '../../src/protocol/frames.ts';
import { readRecording, type RecordLine } from '../../src/transport/recorder.ts';
import { replayHub, replayWorker, type ReplayResult } from './harness.ts';
import { REPLAY_TREE, TREE, expectedTreeAfterCleanup, flaggedPaths, listTree, treeMtime, treePath } from './replay-tree.ts';
import { FIXTURES, expectedWorkerToken, hubRecording, seedRegistry, workerRecording } from './scenario-setup.ts';
import { tempDir } from '../unit/test-helpers.ts';

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

test('formatRecording prints one line per recorded line, every frame with an arrow, secrets masked', async () => {
  const clock = new SimulatedClock();
  const seeded = await seedRegistry(clock);
  const secrets = [seeded.passkey, seeded.adminToken, (await expectedWorkerToken(clock))];
  await seeded.store.close();
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
  const result = await replayHub(lines, { scenario: 'register-and-exec' });
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

// ---- collect-and-cleanup: what the replayed frames say, beyond being the recorded ones ----

/** The step message ids of the run (`run-1`, steps collect, plan_cleanup, cleanup). */
const COLLECT = 'run-1.0';
const PLAN = 'run-1.1';
const CLEANUP = 'run-1.2';

type Sent = ReplayResult['sent'];
type AnyFrame = Record<string, unknown> & { t: string };

function framesOf(sent: Sent, t: string, re?: string): AnyFrame[] {
  return sent.map((s) => s.frame as AnyFrame).filter((f) => f?.t === t && (re === undefined || f.re === re));
}

/** `deleted file PATH` / `deleted folder PATH` messages, in the order the worker sent them. */
function deletions(messages: readonly string[]): Array<{ kind: string; path: string }> {
  return messages.flatMap((m) => {
    const match = /^deleted (file|folder) (.+)$/.exec(m);
    return match ? [{ kind: match[1]!, path: match[2]! }] : [];
  });
}

/** Every deleted folder comes after every deleted entry inside it (files before their folder). */
function assertDependentsFirst(deleted: ReadonlyArray<{ kind: string; path: string }>): void {
  const folders = deleted.filter((d) => d.kind === 'folder');
  assert.ok(folders.length > 0, 'a folder was deleted');
  for (const folder of folders) {
    const at = deleted.indexOf(folder);
    const inside = deleted.filter((d) => d.path.startsWith(`${folder.path}/`));
    assert.ok(inside.length > 0, `${folder.path} had flagged entries inside`);
    for (const entry of inside) assert.ok(deleted.indexOf(entry) < at, `${entry.path} deleted before its folder ${folder.path}`);
  }
}

test('collect-and-cleanup: the replayed worker collects the tree with its sizes, mtimes and ages (from the simulated clock)', async () => {
  const result = await replayWorker(workerRecording('collect-and-cleanup'));
  assert.ok(result.ok);
  const graphs = framesOf(result.sent, 'resources', COLLECT);
  assert.is(graphs.length, 1);
  const resources = graphs[0]!.resources as Array<{ id: string; kind: string; attrs: Record<string, unknown> }>;
  const byId = new Map(resources.map((r) => [r.id, r] as const));
  assert.equal([...byId.keys()].sort(), TREE.map((entry) => treePath(entry)).sort());
  for (const entry of TREE) {
    const { attrs, kind } = byId.get(treePath(entry))!;
    assert.is(kind, entry.kind, entry.path);
    assert.is(attrs.mtime, treeMtime(entry), entry.path);
    assert.is(attrs.age_s, entry.ageS, entry.path);
    if (entry.kind === 'file') assert.is(attrs.size, entry.size, entry.path);
  }
});

test('collect-and-cleanup: the replayed worker flags the planned entries, deletes files before their folder, and leaves the rest on disk', async () => {
  const temp = tempDir('cla-replay-test-');
  const treeRoot = path.join(temp.dir, 'tree');
  try {
    await flagsAndDeletes(treeRoot);
  } finally {
    temp.cleanup();
  }
});

async function flagsAndDeletes(treeRoot: string): Promise<void> {
  const result = await replayWorker(workerRecording('collect-and-cleanup'), { treeRoot });
  assert.ok(result.ok);
  const plans = framesOf(result.sent, 'resources_flag', PLAN);
  assert.is(plans.length, 1);
  assert.equal([...(plans[0]!.clean as string[])].sort(), flaggedPaths().sort());
  const deleted = deletions(framesOf(result.sent, 'action_info', CLEANUP).map((f) => f.message as string));
  assert.equal(deleted.map((d) => d.path).sort(), flaggedPaths().sort());
  assertDependentsFirst(deleted);
  assert.is(framesOf(result.sent, 'action_done', CLEANUP).length, 1);
  // The replay really deleted them (harness.ts recreates the tree before each worker replay).
  assert.equal(listTree(treeRoot), expectedTreeAfterCleanup());
}

test('collect-and-cleanup: the replayed hub runs collect_and_cleanup to success and sends cleanup the flagged ids in plain order', async () => {
  const result = await replayHub(hubRecording('collect-and-cleanup'));
  assert.ok(result.ok);
  assert.is(result.runs.length, 1);
  const [detail] = result.runs;
  assert.is(detail!.run.id, 'run-1');
  assert.is(detail!.run.state, 'succeeded');
  assert.equal(
    detail!.steps.map((step) => `${step.name}:${step.state}`),
    ['collect:succeeded', 'plan_cleanup:succeeded', 'cleanup:succeeded'],
  );
  // What the hub stored from the worker's answers says the same as the worker's frames.
  const cleanup = detail!.steps[2]!;
  assert.equal(cleanup.answers.map((a) => `${a.subscriber}:${a.status}`), ['w-replay:done']);
  assertDependentsFirst(deletions(cleanup.messages.map((m) => m.message)));
  // The hub lists a folder before its files: the dependency order is the worker's doing.
  const [action] = framesOf(result.sent, 'action').filter((f) => f.action === 'cleanup');
  const ids = (action!.data as { clean: { fs: string[] } }).clean.fs;
  assert.equal(ids, flaggedPaths().sort());
  assert.ok(ids.indexOf(`${REPLAY_TREE}/build`) < ids.indexOf(`${REPLAY_TREE}/build/app.bin`));
});

test('collect-and-cleanup: a folder size may differ (normalised), a file age may not', async () => {
  const alterResource = (change: (resources: Array<{ kind: string; attrs: Record<string, unknown> }>) => void) =>
    alterFirst(readRecording(workerRecording('collect-and-cleanup')), 'resources', (frame) => change(frame.resources as never));
  const folderSize = await replayWorker(
    alterResource((resources) => (resources.find((r) => r.kind === 'folder')!.attrs.size = 12_345)),
    { scenario: 'collect-and-cleanup' },
  );
  assertReplayed(folderSize);
  const fileAge = await replayWorker(
    alterResource((resources) => (resources.find((r) => r.kind === 'file')!.attrs.age_s = 1)),
    { scenario: 'collect-and-cleanup' },
  );
  assert.not.ok(fileAge.ok);
  assert.match(fileAge.expected, /"age_s":1,/);
});

// ---- the task scenarios: what the replayed hub stored, and what the replayed worker answered ----

/** `id state attempts worker result-or-error` per task, from a replayed hub's store. */
function taskSummary(tasks: ReadonlyArray<{ id: string; state: string; attempts: number; worker: string | null; result: unknown; error: { code: string } | null }>): string[] {
  return tasks.map((t) => `${t.id} ${t.state} ${t.attempts} ${t.worker} ${t.state === 'failed' ? t.error?.code : JSON.stringify(t.result)}`);
}

test('task-push: the replayed hub ends with task-1 and task-3 done, task-2 failed, task-4 handed back (pending, not counted as an attempt)', async () => {
  const result = await replayHub(hubRecording('task-push'));
  assert.ok(result.ok);
  assert.equal(taskSummary(result.tasks), [
    'task-1 done 1 w-replay {"tagged":1,"by":"w-replay"}',
    'task-2 failed 1 w-replay INVALID_ARGUMENT',
    'task-3 done 1 w-replay {"tagged":3,"by":"w-replay"}',
    'task-4 pending 0 w-replay null',
  ]);
});

test('task-push: the replayed worker answers each push once and, stopped, rejects the queued task before finishing the running one', async () => {
  const result = await replayWorker(workerRecording('task-push'));
  assert.ok(result.ok);
  const answers = result.sent.map((s) => s.frame as AnyFrame).filter((f) => /^task_|^bye$/.test(f.t)).map((f) => `${f.t} ${f.re ?? ''}`.trim());
  assert.equal(answers, ['task_done task-1', 'task_failed task-2', 'bye', 'task_rejected task-4', 'task_done task-3']);
  // One capacity model: busy from the first push to the last answer of each burst, two state frames per burst.
  assert.equal(framesOf(result.sent, 'state').map((f) => f.value), ['connected.idle', 'connected.busy', 'connected.idle', 'connected.busy', 'stopping']);
});

test('task-lease-lost: the replayed hub pushes the lost lease to the other worker, which completes it (attempt 2)', async () => {
  const result = await replayHub(hubRecording('task-lease-lost'));
  assert.ok(result.ok);
  assert.equal(taskSummary(result.tasks), ['task-1 done 2 w-replay-b {"tagged":1,"by":"w-replay-b"}']);
  const pushes = framesOf(result.sent, 'task_push').map((f) => f.lease);
  assert.equal(pushes, ['lease-1', 'lease-2'], 'a new lease for the second worker');
});

test('task-lease-lost: the replayed worker drops the task with its connection and sends no result for it', async () => {
  const result = await replayWorker(workerRecording('task-lease-lost'));
  assert.ok(result.ok);
  assert.equal(result.sent.map((s) => s.frame as AnyFrame).filter((f) => f.t.startsWith('task_')), []);
  assert.is(framesOf(result.sent, 'subscribe').length, 2, 'subscribed again after the reconnect');
});

test('task-stale-lease: the replayed hub refuses the held completion with STALE_LEASE and keeps the other worker\'s result', async () => {
  const result = await replayHub(hubRecording('task-stale-lease'));
  assert.ok(result.ok);
  assert.equal(taskSummary(result.tasks), ['task-1 done 2 w-replay-b {"tagged":1,"by":"w-replay-b"}']);
  const refused = framesOf(result.sent, 'error', 'task-1');
  assert.is(refused.length, 1);
  assert.is((refused[0]!.error as { code: string }).code, 'STALE_LEASE');
  assert.equal(framesOf(result.sent, 'task_revoked').map((f) => f.re), ['task-1']);
});

test('task-stale-lease: the replayed worker sends its result with the first lease, once', async () => {
  const result = await replayWorker(workerRecording('task-stale-lease'));
  assert.ok(result.ok);
  assert.equal(framesOf(result.sent, 'task_done').map((f) => `${f.re} ${f.lease}`), ['task-1 lease-1']);
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
