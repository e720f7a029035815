/**
 * Every schema step of the hub's SQLite file, per part, in order (issue 9: one migration runner, see
 * ./migrations.ts). Append a step at the end of its part with a new name; never edit or reorder a
 * released one: the runner records steps by part, position and name, and refuses a file whose record
 * it does not know (written by a newer cla-hub).
 *
 * The first steps of each part are the schema as it was before the runner, kept verbatim so the
 * runner can adopt files written by that code: `registry` steps were counted by `PRAGMA user_version`,
 * `tasks` steps by the `task_schema` table, and the `workflows` and `resources` tables were created
 * with `CREATE TABLE IF NOT EXISTS` (step 1 of each is that DDL).
 */
import { decodeTaskValue } from '../hub/tasks/task-json.ts';
import { encodeValue } from '../protocol/codec.ts';

/** One named schema step: SQL run once, in the runner's transaction. */
export interface SchemaStep {
  /** Unique within its part; recorded in `schema_migrations`. */
  readonly name: string;
  readonly sql: string;
  /**
   * SQL functions the step's SQL calls, defined on the connection just before it runs (a conversion
   * SQL cannot do by itself, such as `values-as-msgpack`'s JSON -> msgpack). Deterministic, one value each.
   */
  readonly functions?: Readonly<Record<string, (value: unknown) => unknown>>;
}

/** The parts of the file, in the order their steps run (a part may refer to an earlier one). */
export const SCHEMA_PARTS = ['registry', 'tasks', 'workflows', 'resources'] as const;
export type SchemaPart = (typeof SCHEMA_PARTS)[number];

/** Projects, passkeys, environments, workers, jobs and settings (src/store/sqlite-store.ts). */
export const REGISTRY_STEPS: readonly SchemaStep[] = [
  {
    name: 'create-registry',
    sql: `CREATE TABLE projects (
     name TEXT PRIMARY KEY,
     passkey TEXT,
     passkey_hash TEXT UNIQUE,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE envs (name TEXT PRIMARY KEY);
   CREATE TABLE workers (
     id TEXT PRIMARY KEY,
     token_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     agent TEXT,
     last_seen INTEGER,
     connected_since INTEGER,
     disabled INTEGER NOT NULL DEFAULT 0,
     jobs_run INTEGER NOT NULL DEFAULT 0,
     failures INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE worker_projects (
     worker_id TEXT NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
     project TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
     added_at INTEGER NOT NULL,
     PRIMARY KEY (worker_id, project)
   );
   CREATE INDEX worker_projects_by_project ON worker_projects(project);
   -- No foreign key to workers: a job's history outlives an unregistered worker.
   CREATE TABLE jobs (
     id TEXT PRIMARY KEY,
     worker_id TEXT NOT NULL,
     kind TEXT NOT NULL,
     command TEXT NOT NULL,
     started_at INTEGER NOT NULL,
     finished_at INTEGER,
     exit_code INTEGER,
     signal TEXT,
     outcome TEXT,
     error_code TEXT
   );
   CREATE INDEX jobs_by_start ON jobs(started_at);
   CREATE INDEX jobs_by_worker ON jobs(worker_id, started_at);
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  },
  // The tail of each job's output (capped by the hub) and how many output bytes the job produced.
  {
    name: 'job-output',
    sql: `ALTER TABLE jobs ADD COLUMN output BLOB;
   ALTER TABLE jobs ADD COLUMN output_bytes INTEGER NOT NULL DEFAULT 0;`,
  },
  // The hub that ran each job (issue 9), so a hub starting again closes only its own lost jobs; older
  // rows keep NULL and count as any hub's own.
  {
    name: 'job-owner',
    sql: `ALTER TABLE jobs ADD COLUMN owner TEXT;
   CREATE INDEX jobs_unfinished_by_owner ON jobs(owner) WHERE finished_at IS NULL;`,
  },
];

/**
 * A task value stored by a cla-hub of before `values-as-msgpack` (JSON text, binary as
 * `{"\u0000b64": ...}`: task-json.ts) as the msgpack bytes stored since. NULL stays NULL (a result not yet
 * written); a BLOB is left as it is.
 */
function taskJsonToMsgpack(value: unknown): unknown {
  return typeof value === 'string' ? Buffer.from(encodeValue(decodeTaskValue(value))) : value;
}

/** Tasks and their leases (src/hub/tasks/sqlite-task-tables.ts). */
export const TASK_STEPS: readonly SchemaStep[] = [
  {
    name: 'create-tasks',
    sql: `CREATE TABLE IF NOT EXISTS tasks (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     name TEXT NOT NULL,
     attrs TEXT NOT NULL,
     data TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending', 'offered', 'claimed', 'done', 'failed')),
     attempts INTEGER NOT NULL DEFAULT 0,
     max_attempts INTEGER NOT NULL,
     worker TEXT,
     lease TEXT,
     expires_at INTEGER,
     deadline_ms INTEGER NOT NULL,
     deadline_at INTEGER NOT NULL,
     result TEXT,
     error TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     offered_at INTEGER,
     claimed_at INTEGER,
     finished_at INTEGER
   );
   CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks(state, seq);
   CREATE INDEX IF NOT EXISTS tasks_expiring ON tasks(expires_at) WHERE state IN ('offered', 'claimed');
   CREATE INDEX IF NOT EXISTS tasks_deadline ON tasks(deadline_at) WHERE state = 'pending';`,
  },
  // The hub that granted the current offer or lease (issue 9): recovery releases only its own.
  { name: 'task-owner', sql: `ALTER TABLE tasks ADD COLUMN owner TEXT;` },
  // No task is offered any more (issue 9: the hub leases and pushes a pending task in one step, and the
  // offer path left the machine and the stores later). A row a hub of before issue 9 left offered goes
  // back to pending, as its recovery at start did (an offer was no attempt), and the expiry index covers
  // the one state that still expires. The CHECK keeps 'offered': changing it would mean rebuilding the table.
  {
    name: 'offered-to-pending',
    sql: `UPDATE tasks SET state = 'pending', lease = NULL, owner = NULL, expires_at = NULL WHERE state = 'offered';
   DROP INDEX tasks_expiring;
   CREATE INDEX tasks_expiring ON tasks(expires_at) WHERE state = 'claimed';`,
  },
  // A task's data and result as msgpack bytes in BLOB columns (issue 9: they stay msgpack bytes end to
  // end; the hub stores what it was given or the worker sent and pushes it as it is, with no JSON encode
  // or decode per task). The table is rebuilt for the columns' new types, each JSON text value converted
  // (`task_json_to_msgpack`); the CHECK drops 'offered', which step `offered-to-pending` emptied.
  {
    name: 'values-as-msgpack',
    functions: { task_json_to_msgpack: taskJsonToMsgpack },
    sql: `CREATE TABLE tasks_msgpack (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     name TEXT NOT NULL,
     attrs TEXT NOT NULL,
     data BLOB NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending', 'claimed', 'done', 'failed')),
     attempts INTEGER NOT NULL DEFAULT 0,
     max_attempts INTEGER NOT NULL,
     worker TEXT,
     lease TEXT,
     expires_at INTEGER,
     deadline_ms INTEGER NOT NULL,
     deadline_at INTEGER NOT NULL,
     result BLOB,
     error TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     offered_at INTEGER,
     claimed_at INTEGER,
     finished_at INTEGER,
     owner TEXT
   );
   INSERT INTO tasks_msgpack (seq, id, name, attrs, data, state, attempts, max_attempts, worker, lease, expires_at, deadline_ms, deadline_at, result, error, created_at, updated_at, offered_at, claimed_at, finished_at, owner)
     SELECT seq, id, name, attrs, task_json_to_msgpack(data), state, attempts, max_attempts, worker, lease, expires_at, deadline_ms, deadline_at, task_json_to_msgpack(result), error, created_at, updated_at, offered_at, claimed_at, finished_at, owner FROM tasks;
   DROP TABLE tasks;
   ALTER TABLE tasks_msgpack RENAME TO tasks;
   CREATE INDEX tasks_by_state ON tasks(state, seq);
   CREATE INDEX tasks_expiring ON tasks(expires_at) WHERE state = 'claimed';
   CREATE INDEX tasks_deadline ON tasks(deadline_at) WHERE state = 'pending';`,
  },
];

/** The columns and key of `workflow_answers`, as created and as rebuilt without a rowid (the same text in both steps). */
const ANSWER_COLUMNS = `  message_id TEXT NOT NULL,
  subscriber TEXT NOT NULL,
  wait INTEGER NOT NULL,
  status TEXT NOT NULL,
  sent_at INTEGER,
  answered_at INTEGER,
  error TEXT,
  progress_current REAL,
  progress_total REAL,
  progress_message TEXT,
  PRIMARY KEY (message_id, subscriber)
`;

/** Workflow runs, steps, answers and messages (src/hub/actions/sqlite-workflow-tables.ts). */
export const WORKFLOW_STEPS: readonly SchemaStep[] = [
  {
    name: 'create-workflows',
    sql: `CREATE TABLE IF NOT EXISTS workflow_runs (
  id TEXT PRIMARY KEY,
  workflow TEXT NOT NULL,
  trigger TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  reason TEXT,
  definition TEXT NOT NULL,
  snapshot TEXT
);
CREATE INDEX IF NOT EXISTS workflow_runs_by_created ON workflow_runs(created_at);
CREATE INDEX IF NOT EXISTS workflow_runs_by_state ON workflow_runs(state);
CREATE TABLE IF NOT EXISTS workflow_steps (
  run_id TEXT NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  action TEXT NOT NULL,
  message_id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  finished_at INTEGER,
  snapshot TEXT,
  PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS workflow_answers (
${ANSWER_COLUMNS});
CREATE TABLE IF NOT EXISTS workflow_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL,
  subscriber TEXT NOT NULL,
  at INTEGER NOT NULL,
  level TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS workflow_messages_by_message ON workflow_messages(message_id, seq);`,
  },
  // The hub that owns a run (issue 9): recovery at start resumes only its own; NULL (older rows) counts
  // as the owner's of whoever opens the file, as a single hub always did.
  {
    name: 'run-owner',
    sql: `ALTER TABLE workflow_runs ADD COLUMN owner TEXT;
   CREATE INDEX workflow_runs_by_owner ON workflow_runs(owner, state);`,
  },
  // The answer rows keyed by their primary key alone (issue 9): a rowid table kept each row twice, in
  // the table and in its primary-key index, so a 1,000-worker broadcast's 1,000 rows at the step's start
  // and their answers dirtied (and the WAL and its checkpoint copied) the pages of both trees. Without
  // the rowid the rows live in the key's tree only: in a script replaying a broadcast round's writes
  // (bench/RESULTS.md, bcast7) 7.2-7.4 -> 5.5-5.8 ms of CPU per round. Nothing reads their rowid.
  {
    name: 'answers-without-rowid',
    sql: `CREATE TABLE workflow_answers_keyed (
${ANSWER_COLUMNS}) WITHOUT ROWID;
INSERT INTO workflow_answers_keyed SELECT message_id, subscriber, wait, status, sent_at, answered_at, error, progress_current, progress_total, progress_message FROM workflow_answers;
DROP TABLE workflow_answers;
ALTER TABLE workflow_answers_keyed RENAME TO workflow_answers;`,
  },
  // A step whose subscribers are kept in its snapshot until each one's status changes (issue 9): the
  // step's first write stores no answer rows, only `roster` (JSON: the start's send time and the ids it
  // did not reach); a subscriber's row is written once, when it answers (or is sent to, or reports an
  // error or progress). A 1,000-worker broadcast wrote each row twice per round before: pending at the
  // start, then answered. NULL (older steps): every subscriber has its row.
  { name: 'step-roster', sql: `ALTER TABLE workflow_steps ADD COLUMN roster TEXT;` },
  // The answers of a step with a roster, one row per write of the subscribers that changed alike (issue
  // 9): `subscribers` is a JSON array of their ids, `seq` orders a step's sets (a later one wins). A
  // 1,000-worker broadcast wrote its 1,000 answers as 1,000 rows per round, ~2 us each with the WAL
  // pages they dirty (bench/RESULTS.md, bcast9); now a few rows. A subscriber's status and answer time
  // are its latest set's, else the roster's; its answer row (written for a resend, an error or progress)
  // holds the rest. A step's end written with its final snapshot drops its sets (updateStep).
  {
    name: 'answer-sets',
    sql: `CREATE TABLE workflow_answer_sets (
  message_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  wait INTEGER NOT NULL,
  status TEXT NOT NULL,
  answered_at INTEGER,
  subscribers TEXT NOT NULL,
  PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;`,
  },
];

/** The latest resource graph of each worker and plugin (src/hub/actions/sqlite-resource-store.ts). */
export const RESOURCE_STEPS: readonly SchemaStep[] = [
  {
    name: 'create-resources',
    sql: `CREATE TABLE IF NOT EXISTS resources (
  worker TEXT NOT NULL,
  plugin TEXT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  attrs TEXT NOT NULL,
  tags TEXT NOT NULL,
  edges TEXT NOT NULL,
  clean INTEGER NOT NULL DEFAULT 0,
  collected_at INTEGER NOT NULL,
  run_id TEXT,
  PRIMARY KEY (worker, plugin, id)
);
CREATE INDEX IF NOT EXISTS resources_by_id ON resources(id);`,
  },
];

/** Every part's steps. */
export const SCHEMA_STEPS: Readonly<Record<SchemaPart, readonly SchemaStep[]>> = {
  registry: REGISTRY_STEPS,
  tasks: TASK_STEPS,
  workflows: WORKFLOW_STEPS,
  resources: RESOURCE_STEPS,
};
