// The one migration runner (src/store/migrations.ts) on real SQLite files: files written by the code
// before it (./legacy-data-file.ts, its DDL copied verbatim) are upgraded in place with their data; a
// second run changes nothing; a file from a newer cla-hub is refused and left untouched.
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { SqliteResourceStore } from '../../src/hub/actions/sqlite-resource-store.ts';
import { SqliteWorkflowStore } from '../../src/hub/actions/sqlite-workflow-store.ts';
import { openSqliteTaskStore } from '../../src/hub/tasks/sqlite-task-store.ts';
import { createHub } from '../../src/hub/create-hub.ts';
import { appliedSteps, migrate, RUNNER_USER_VERSION } from '../../src/store/migrations.ts';
import { SCHEMA_PARTS, SCHEMA_STEPS } from '../../src/store/schema-steps.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { buildLegacyFile } from './legacy-data-file.ts';
import { decodeValue, encodeValue } from '../../src/protocol/codec.ts';
import { tempDirEach, type TempDirContext } from './test-helpers.ts';

const test = suite<TempDirContext>('one migration runner for the data file', { dir: '', cleanup: () => {} });
tempDirEach(test, 'cla-migrations-');

const everyStep = SCHEMA_PARTS.flatMap((part) => SCHEMA_STEPS[part].map((s, i) => ({ part, step: i + 1, name: s.name })));
const sortSteps = (steps: Array<{ part: string; step: number; name: string }>) => [...steps].sort((a, b) => a.part.localeCompare(b.part) || a.step - b.step);
/** The whole schema as SQLite keeps it, and the version header: what must not change on a second run. */
const schemaOf = (db: Database.Database) => ({
  objects: db.prepare(`SELECT type, name, sql FROM sqlite_master ORDER BY type, name`).all(),
  userVersion: db.pragma('user_version', { simple: true }),
  steps: appliedSteps(db),
});
const columns = (db: Database.Database, table: string) => (db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]).sort();
const refusesAsNewer = (fn: () => unknown) =>
  assert.throws(fn, (error: unknown) => error instanceof ClaError && error.code === 'UNSUPPORTED' && /newer cla-hub/.test(error.message) && /Upgrade cla-hub/.test(error.message));

test("today's file is upgraded in place by the hub's open: data kept, every step recorded, task_schema gone", async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  buildLegacyFile(file);
  openSqliteStore(file).close();

  const db = new Database(file);
  try {
    assert.equal(sortSteps(appliedSteps(db)), sortSteps(everyStep));
    assert.is(db.pragma('user_version', { simple: true }), RUNNER_USER_VERSION, 'a cla-hub from before the runner refuses the file');
    assert.not.ok(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'task_schema'`).get(), 'one scheme: the task version table is gone');
    assert.ok(columns(db, 'workflow_runs').includes('owner'));
    assert.ok(columns(db, 'workflow_steps').includes('roster'), 'a step may keep its subscribers in its snapshot');
    assert.is(db.prepare('SELECT roster FROM workflow_steps').pluck().get(), null, "an old step's subscribers are all in rows");
    assert.equal(columns(db, 'workflow_answer_sets'), ['answered_at', 'message_id', 'seq', 'status', 'subscribers', 'wait'], "a roster step's answers are written in sets");
    assert.ok(columns(db, 'tasks').includes('owner'));
    assert.match(db.prepare(`SELECT sql FROM sqlite_master WHERE name = 'workflow_answers'`).pluck().get() as string, /WITHOUT ROWID\s*$/, 'answer rows in their key alone');
    assert.equal(db.prepare('SELECT message_id, subscriber, wait, status, sent_at FROM workflow_answers').all(), [{ message_id: 'run-1.0', subscriber: 'w1', wait: 1, status: 'pending', sent_at: 12 }]);
    // Registry rows, read as rows (the registry store's API is not this test's subject).
    assert.equal(db.prepare('SELECT name, passkey FROM projects').all(), [{ name: 'default', passkey: 'pk' }]);
    assert.equal(db.prepare('SELECT worker_id, project FROM worker_projects').all(), [{ worker_id: 'w1', project: 'default' }]);
    assert.equal(db.prepare('SELECT id, output_bytes FROM jobs').all(), [{ id: 'job-1', output_bytes: 3 }]);
    assert.is(db.prepare(`SELECT value FROM settings WHERE key = 'hub.url'`).pluck().get(), 'ws://old');

    const workflows = new SqliteWorkflowStore(db, { hubId: 'hub-x' });
    const detail = await workflows.getRun('run-1');
    assert.equal([detail.run.state, detail.steps[0]!.answers[0]!.sentAt, detail.steps[0]!.messages[0]!.message], ['running', 12, 'collecting']);
    const [resumed] = await workflows.activeRuns();
    assert.equal([resumed!.id, resumed!.owner, resumed!.snapshot], ['run-1', null, '{"s":1}'], "a run from before owners is any hub's own to resume");
    await workflows.close();
    const resources = new SqliteResourceStore(db);
    assert.equal((await resources.search({ all: [] })).map((r) => [r.id, r.clean, r.tags]), [['/a', true, { owner: 'lukas' }]]);
    await resources.close();
  } finally {
    db.close();
  }
  const tasks = openSqliteTaskStore(file, { hubId: 'hub-x' });
  assert.equal([(await tasks.get('task-1'))!.state, (await tasks.get('task-1'))!.owner], ['claimed', null]);
  assert.equal([...(await tasks.get('task-1'))!.data], [...encodeValue(1)], 'its JSON text data is msgpack bytes now');
  // No task is offered any more: an offered row is pending again, as unclaimed as it was, its offer gone.
  const offered = (await tasks.get('task-2'))!;
  assert.equal([offered.state, offered.attempts, offered.lease, offered.expiresAt, offered.worker, offered.offeredAt], ['pending', 0, null, null, 'w1', 1]);
  assert.equal(await tasks.counts(), { pending: 1, claimed: 1, done: 0, failed: 0 });
  // The old hub's claim is released at the start, as before; the pending task is leased like any other.
  assert.is(await tasks.recover(5), 1);
  assert.ok(await tasks.lease('task-2', 'w2', 'L-new', 6, 3006));
  assert.equal((await tasks.expire(3006)).released, [{ id: 'task-2', worker: 'w2', lease: 'L-new', state: 'pending' }], 'the rebuilt expiry index finds a lease');
  await tasks.close();
});

test('task data and results stored as JSON text (binary as base64) become msgpack BLOBs, values unchanged', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  buildLegacyFile(file);
  const old = new Database(file);
  // As the code before \`values-as-msgpack\` wrote them (task-json.ts): binary under the marker key.
  const data = JSON.stringify({ bytes: { '\u0000b64': Buffer.from([0, 1, 255]).toString('base64') }, nested: { list: [1, 'two', null, { deep: true }] }, text: 'h\u00e9' });
  const result = JSON.stringify({ tags: { owner: 'lukas' }, raw: { '\u0000b64': Buffer.from('ok').toString('base64') } });
  old.prepare(
    `INSERT INTO tasks (id, name, attrs, data, state, attempts, max_attempts, worker, deadline_ms, deadline_at, result, created_at, updated_at, finished_at)
     VALUES ('task-3', 'tag', '{"cloud":"aws"}', ?, 'done', 1, 3, 'w1', 1000, 2000, ?, 1, 2, 2)`,
  ).run(data, result);
  old.close();
  const tasks = openSqliteTaskStore(file);
  try {
    const row = (await tasks.get('task-3'))!;
    assert.instance(row.data, Uint8Array);
    assert.equal(decodeValue(row.data), { bytes: Buffer.from([0, 1, 255]), nested: { list: [1, 'two', null, { deep: true }] }, text: 'h\u00e9' });
    assert.equal(decodeValue(row.result!), { tags: { owner: 'lukas' }, raw: Buffer.from('ok') });
    assert.equal([row.state, row.attrs, row.finishedAt], ['done', { cloud: 'aws' }, 2]);
    assert.is(decodeValue((await tasks.get('task-2'))!.data), 2);
    assert.is((await tasks.get('task-1'))!.result, null, 'a result not written yet stays NULL');
  } finally {
    await tasks.close();
  }
  const db = new Database(file, { readonly: true });
  try {
    const types = db.prepare(`SELECT name, type FROM pragma_table_info('tasks') WHERE name IN ('data', 'result') ORDER BY name`).all();
    assert.equal(types, [{ name: 'data', type: 'BLOB' }, { name: 'result', type: 'BLOB' }]);
    assert.equal(db.prepare(`SELECT typeof(data) FROM tasks ORDER BY seq`).pluck().all(), ['blob', 'blob', 'blob']);
    assert.equal(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' AND sql IS NOT NULL ORDER BY name`).pluck().all(), ['tasks_by_state', 'tasks_deadline', 'tasks_expiring']);
  } finally {
    db.close();
  }
});

test('running it again changes nothing; every store opening the file finds it current', ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  buildLegacyFile(file);
  const db = new Database(file);
  try {
    const first = migrate(db);
    assert.is(first.adopted.length, 2 + 2 + 1 + 1, 'registry 2, tasks 2, workflows 1, resources 1 adopted');
    assert.equal(first.applied.map((s) => `${s.part}:${s.name}`), ['registry:job-owner', 'tasks:offered-to-pending', 'tasks:values-as-msgpack', 'workflows:run-owner', 'workflows:answers-without-rowid', 'workflows:step-roster', 'workflows:answer-sets']);
    const before = schemaOf(db);
    assert.equal(migrate(db), { adopted: [], applied: [] });
    new SqliteWorkflowStore(db);
    new SqliteResourceStore(db);
    assert.equal(schemaOf(db), before);
  } finally {
    db.close();
  }
});

test('an older file (registry 1, tasks 1, no workflow or resource tables) gets every missing step', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  buildLegacyFile(file, { registry: 1, tasks: 1, workflows: false, resources: false });
  const db = new Database(file);
  try {
    const outcome = migrate(db);
    assert.equal(outcome.adopted.map((s) => `${s.part}:${s.name}`), ['registry:create-registry', 'tasks:create-tasks']);
    assert.equal(outcome.applied.map((s) => `${s.part}:${s.name}`), ['registry:job-output', 'registry:job-owner', 'tasks:task-owner', 'tasks:offered-to-pending', 'tasks:values-as-msgpack', 'workflows:create-workflows', 'workflows:run-owner', 'workflows:answers-without-rowid', 'workflows:step-roster', 'workflows:answer-sets', 'resources:create-resources']);
    assert.ok(columns(db, 'jobs').includes('output_bytes'));
    assert.equal(db.prepare('SELECT id, output_bytes FROM jobs').all(), [{ id: 'job-1', output_bytes: 0 }]);
    assert.equal(db.prepare('SELECT id, state FROM tasks ORDER BY id').all(), [{ id: 'task-1', state: 'claimed' }, { id: 'task-2', state: 'pending' }]);
  } finally {
    db.close();
  }
});

test('a new file gets every step in one go; an empty one too', ({ dir }) => {
  const db = new Database(path.join(dir, 'hub.db'));
  try {
    const outcome = migrate(db);
    assert.equal(outcome.adopted, []);
    assert.equal(sortSteps(outcome.applied), sortSteps(everyStep));
  } finally {
    db.close();
  }
});

test('a file from a newer cla-hub is refused with a clear error and left as it was', ({ dir }) => {
  // Written by the runner of a newer version: a step this one does not know.
  const newer = path.join(dir, 'newer.db');
  let db = new Database(newer);
  migrate(db);
  db.prepare(`INSERT INTO schema_migrations VALUES ('tasks', ?, 'task-priority', 0)`).run(SCHEMA_STEPS.tasks.length + 1);
  const before = schemaOf(db);
  refusesAsNewer(() => migrate(db));
  assert.equal(schemaOf(db), before);
  db.close();
  refusesAsNewer(() => openSqliteStore(newer));
  refusesAsNewer(() => openSqliteTaskStore(newer));

  // A part this version has never heard of.
  db = new Database(path.join(dir, 'part.db'));
  migrate(db);
  db.prepare(`INSERT INTO schema_migrations VALUES ('settings', 1, 'create-settings', 0)`).run();
  refusesAsNewer(() => migrate(db));
  db.close();

  // From before the runner, but a newer registry or task version than the runner adopts.
  const registry = path.join(dir, 'registry.db');
  buildLegacyFile(registry);
  db = new Database(registry);
  db.pragma(`user_version = ${SCHEMA_STEPS.registry.length + 1}`);
  refusesAsNewer(() => migrate(db));
  assert.not.ok(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'`).get(), 'nothing written');
  db.close();
  const tasks = path.join(dir, 'tasks.db');
  buildLegacyFile(tasks);
  db = new Database(tasks);
  db.prepare('UPDATE task_schema SET version = 99').run();
  refusesAsNewer(() => migrate(db));
  db.close();
});

test('a failing step rolls back the whole upgrade, adoption included', ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  buildLegacyFile(file, { workflows: false });
  const db = new Database(file);
  try {
    const broken = { ...SCHEMA_STEPS, resources: [...SCHEMA_STEPS.resources, { name: 'broken', sql: 'ALTER TABLE nowhere ADD COLUMN x TEXT' }] };
    assert.throws(() => migrate(db, broken), /no such table: nowhere/);
    assert.not.ok(db.prepare(`SELECT 1 FROM sqlite_master WHERE name IN ('schema_migrations', 'workflow_runs')`).get());
    assert.ok(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'task_schema'`).get(), 'the old scheme is still there');
    assert.is(db.pragma('user_version', { simple: true }), 2);
    migrate(db);
    assert.equal(sortSteps(appliedSteps(db)), sortSteps(everyStep));
  } finally {
    db.close();
  }
});

test('an upgrade is logged at the hub\'s start, steps before and time after; a current or a new file logs nothing', async ({ dir }) => {
  const lines: Array<{ msg: string; steps?: string[]; ms?: number; component?: string }> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const file = path.join(dir, 'hub.db');
  buildLegacyFile(file);
  const hub = await createHub({ data: file, port: 0, cron: false, log });
  await hub.stop();
  const upgrade = lines.filter((l) => l.component === 'store');
  assert.is(upgrade.length, 2, JSON.stringify(lines));
  assert.match(upgrade[0]!.msg, /Upgrading the data file .*hub\.db .*\(7 steps\).*let it finish/);
  assert.equal(upgrade[0]!.steps, ['registry:job-owner', 'tasks:offered-to-pending', 'tasks:values-as-msgpack', 'workflows:run-owner', 'workflows:answers-without-rowid', 'workflows:step-roster', 'workflows:answer-sets']);
  assert.match(upgrade[1]!.msg, /^Data file upgraded: 7 schema steps applied$/);
  assert.type(upgrade[1]!.ms, 'number');

  lines.length = 0;
  openSqliteStore(file, { log }).close();
  openSqliteStore(path.join(dir, 'new.db'), { log }).close();
  assert.equal(lines, [], 'nothing to say about a current file or a new one');
});

test.run();
