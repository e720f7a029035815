// A hub data file as the code before the one migration runner wrote it (commit b42ce27). Its DDL is
// copied verbatim into ../fixtures/legacy-schema-b42ce27/*.sql (a deliberate duplicate of the first
// steps of src/store/schema-steps.ts, never imported from it), so the migration test keeps checking
// the upgrade of files that exist in the field even after schema-steps.ts changes. Three schemes on one file: the registry
// counted in `PRAGMA user_version`, the task tables in `task_schema`, workflows and resources created
// with `CREATE TABLE IF NOT EXISTS`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const FIXTURES = fileURLToPath(new URL('../fixtures/legacy-schema-b42ce27/', import.meta.url));
const sql = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');
const REGISTRY_MIGRATIONS = [sql('registry-1.sql'), sql('registry-2.sql')];
const TASK_MIGRATIONS = [sql('tasks-1.sql'), sql('tasks-2.sql')];
const WORKFLOW_SCHEMA = sql('workflows.sql');
const RESOURCE_SCHEMA = sql('resources.sql');

/** Which parts the old code had written, and at which version. */
export interface LegacyParts {
  /** `user_version`: registry migrations applied (0 = no registry tables). @default 2 */
  registry?: number;
  /** `task_schema.version` (0 = no task tables). @default 2 */
  tasks?: number;
  /** The workflow tables exist. @default true */
  workflows?: boolean;
  /** The resources table exists. @default true */
  resources?: boolean;
}

/** Writes a legacy data file at `file` the way the old code did, with one row of every kind. */
export function buildLegacyFile(file: string, parts: LegacyParts = {}): void {
  const { registry = 2, tasks = 2, workflows = true, resources = true } = parts;
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    // sqlite-store.ts migrate(): one transaction per version.
    for (let v = 0; v < registry; v++) {
      db.transaction(() => {
        db.exec(REGISTRY_MIGRATIONS[v]!);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
    if (registry >= 1) {
      db.prepare(`INSERT INTO projects (name, passkey, passkey_hash, created_at) VALUES ('default', 'pk', ?, 1)`).run('a'.repeat(64));
      db.prepare(`INSERT INTO workers (id, token_hash, created_at) VALUES ('w1', ?, 2)`).run('b'.repeat(64));
      db.prepare(`INSERT INTO worker_projects (worker_id, project, added_at) VALUES ('w1', 'default', 3)`).run();
      db.prepare(`INSERT INTO jobs (id, worker_id, kind, command, started_at) VALUES ('job-1', 'w1', 'exec', '["echo","hi"]', 4)`).run();
      db.prepare(`INSERT INTO settings (key, value) VALUES ('hub.url', 'ws://old')`).run();
    }
    if (registry >= 2) db.prepare(`UPDATE jobs SET output = ?, output_bytes = 3 WHERE id = 'job-1'`).run(Buffer.from('hi\n'));
    // sqlite-task-tables.ts migrateTaskTables().
    if (tasks > 0) {
      db.exec('CREATE TABLE IF NOT EXISTS task_schema (version INTEGER NOT NULL)');
      for (let v = 0; v < tasks; v++) db.exec(TASK_MIGRATIONS[v]!);
      db.prepare('INSERT INTO task_schema (version) VALUES (?)').run(tasks);
      db.prepare(
        `INSERT INTO tasks (id, name, attrs, data, state, attempts, max_attempts, worker, lease, expires_at, deadline_ms, deadline_at, created_at, updated_at)
         VALUES ('task-1', 'tag', '{}', '1', 'claimed', 1, 3, 'w1', 'L-old', 99999, 1000, 2000, 1, 1)`,
      ).run();
      // Offered, not yet claimed: the old code's two-step path (an offer was no attempt).
      db.prepare(
        `INSERT INTO tasks (id, name, attrs, data, state, attempts, max_attempts, worker, lease, expires_at, deadline_ms, deadline_at, created_at, updated_at, offered_at)
         VALUES ('task-2', 'tag', '{}', '2', 'offered', 0, 3, 'w1', 'o-old', 99999, 1000, 2000, 1, 1, 1)`,
      ).run();
    }
    if (workflows) {
      db.exec(WORKFLOW_SCHEMA);
      db.prepare(
        `INSERT INTO workflow_runs (id, workflow, trigger, state, created_at, started_at, definition, snapshot) VALUES ('run-1', 'collect', 'manual', 'running', 10, 11, '{"name":"collect"}', '{"s":1}')`,
      ).run();
      db.prepare(`INSERT INTO workflow_steps (run_id, idx, name, action, message_id, state, started_at, deadline) VALUES ('run-1', 0, 'collect', 'collect', 'run-1.0', 'waiting', 11, 99)`).run();
      db.prepare(`INSERT INTO workflow_answers (message_id, subscriber, wait, status, sent_at) VALUES ('run-1.0', 'w1', 1, 'pending', 12)`).run();
      db.prepare(`INSERT INTO workflow_messages (message_id, subscriber, at, level, message) VALUES ('run-1.0', 'w1', 13, 'info', 'collecting')`).run();
    }
    if (resources) {
      db.exec(RESOURCE_SCHEMA);
      db.prepare(`INSERT INTO resources (worker, plugin, id, kind, attrs, tags, edges, clean, collected_at, run_id) VALUES ('w1', 'fs', '/a', 'file', '{}', '{"owner":"lukas"}', '[]', 1, 14, 'run-1')`).run();
    }
  } finally {
    db.close();
  }
}
