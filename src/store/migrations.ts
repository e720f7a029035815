/**
 * The one migration runner of the hub's SQLite file (issue 9). Every part of the file (registry, tasks,
 * workflows, resources) has an ordered list of named steps in ./schema-steps.ts; the steps applied are
 * recorded in one table, `schema_migrations (part, step, name, applied_at)`, and whatever is missing
 * runs at open, all in one transaction: a crash mid-upgrade leaves the file as it was.
 *
 * Files written before the runner are adopted in place on first open: `PRAGMA user_version` counted
 * the registry steps, the `task_schema` table counted the task steps (it is dropped), and an existing
 * `workflow_runs` or `resources` table means that part's first step (its old `IF NOT EXISTS` DDL) ran.
 * `user_version` is then set to {@link RUNNER_USER_VERSION} so a cla-hub from before the runner
 * refuses the file ("newer than this hub supports. Upgrade cla-hub.") instead of migrating it its way.
 *
 * A file with a recorded step this code does not know (a newer cla-hub wrote it) is refused with
 * `UNSUPPORTED`, naming the step and telling the user to upgrade cla-hub; nothing is written to it.
 *
 * A step can copy a table (`answers-without-rowid` rewrites every stored answer), so upgrading a large
 * file takes a while: the caller is told which steps are about to run (`onUpgrade`) and `cla-hub start`
 * logs them, then how long they took, instead of sitting silent.
 */
import type Database from 'better-sqlite3';
import { ClaError, ErrorCode } from '../errors.ts';
import { SCHEMA_PARTS, SCHEMA_STEPS, type SchemaPart, type SchemaStep } from './schema-steps.ts';

/** The `user_version` of every file the runner manages (above any count the code before it knew). */
export const RUNNER_USER_VERSION = 1000;

const TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  part TEXT NOT NULL,
  step INTEGER NOT NULL,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (part, step)
)`;

/** A step as recorded in the file: `step` counts from 1 within its part. */
export interface AppliedStep {
  part: string;
  step: number;
  name: string;
}

/** Told, inside the upgrade's transaction, of the steps about to run on a file that already held a schema. */
export type UpgradeListener = (pending: AppliedStep[]) => void;

/** What {@link migrate} did. */
export interface MigrationOutcome {
  /** Steps found done in a file from before the runner, recorded now without running them. */
  adopted: AppliedStep[];
  /** Steps run now. */
  applied: AppliedStep[];
}

type Steps = Readonly<Record<SchemaPart, readonly SchemaStep[]>>;

const tableExists = (db: Database.Database, name: string): boolean =>
  db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;

const upgradeHint = 'Upgrade cla-hub to open it (or point --data at a file this version wrote).';

function newerFile(what: string, data: Record<string, unknown>): ClaError {
  return new ClaError(ErrorCode.Unsupported, `The hub data file was written by a newer cla-hub: ${what}, which this cla-hub does not know. ${upgradeHint}`, { data });
}

/** The recorded steps, checked against `steps`: every one known, in order, none missing in between. */
function recorded(db: Database.Database, steps: Steps): Map<SchemaPart, number> {
  const counts = new Map<SchemaPart, number>(SCHEMA_PARTS.map((part) => [part, 0]));
  const rows = db.prepare('SELECT part, step, name FROM schema_migrations ORDER BY part, step').all() as AppliedStep[];
  for (const row of rows) {
    const known = (steps as Record<string, readonly SchemaStep[] | undefined>)[row.part]?.[row.step - 1];
    if (!known || known.name !== row.name) throw newerFile(`it has schema step ${row.step} \`${row.name}\` of part \`${row.part}\``, { ...row });
    const part = row.part as SchemaPart;
    if (counts.get(part) !== row.step - 1) throw newerFile(`schema part \`${row.part}\` skips to step ${row.step}`, { ...row });
    counts.set(part, row.step);
  }
  return counts;
}

/** Reads what a file from before the runner holds, as step counts per part; refuses a newer one. */
function legacyCounts(db: Database.Database, steps: Steps): Map<SchemaPart, number> {
  const counts = new Map<SchemaPart, number>();
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > steps.registry.length) {
    throw newerFile(`its registry schema is version ${version} (this cla-hub knows ${steps.registry.length})`, { version, supported: steps.registry.length });
  }
  counts.set('registry', version);
  if (tableExists(db, 'task_schema')) {
    const tasks = (db.prepare('SELECT max(version) FROM task_schema').pluck().get() as number | null) ?? 0;
    if (tasks > steps.tasks.length) throw newerFile(`its task tables are version ${tasks} (this cla-hub knows ${steps.tasks.length})`, { version: tasks, supported: steps.tasks.length });
    counts.set('tasks', tasks);
  }
  if (tableExists(db, 'workflow_runs')) counts.set('workflows', 1);
  if (tableExists(db, 'resources')) counts.set('resources', 1);
  return counts;
}

/** True when the file records every step of `steps` (a read, no lock taken beyond it). */
function isCurrent(db: Database.Database, steps: Steps): boolean {
  if (!tableExists(db, 'schema_migrations')) return false;
  const counts = recorded(db, steps);
  return SCHEMA_PARTS.every((part) => counts.get(part) === steps[part].length);
}

/**
 * Brings the file on `db` to the current schema: adopts a file from before the runner, then runs every
 * missing step, all in one transaction. Running it on a current file only reads. `onUpgrade` hears of the
 * steps before they run, unless the file held no schema (a new file is not an upgrade). `steps` and `now`
 * are for tests.
 * @throws ClaError `UNSUPPORTED` for a file written by a newer cla-hub
 */
export function migrate(db: Database.Database, steps: Steps = SCHEMA_STEPS, now: () => number = Date.now, onUpgrade?: UpgradeListener): MigrationOutcome {
  const outcome: MigrationOutcome = { adopted: [], applied: [] };
  if (isCurrent(db, steps)) return outcome;
  db.transaction(() => {
    let heldSchema = true;
    if (!tableExists(db, 'schema_migrations')) {
      const legacy = legacyCounts(db, steps);
      db.exec(TABLE);
      const record = db.prepare('INSERT INTO schema_migrations (part, step, name, applied_at) VALUES (?, ?, ?, ?)');
      for (const part of SCHEMA_PARTS) {
        for (let i = 0; i < (legacy.get(part) ?? 0); i++) {
          record.run(part, i + 1, steps[part][i]!.name, now());
          outcome.adopted.push({ part, step: i + 1, name: steps[part][i]!.name });
        }
      }
      // One scheme from now on: the task tables' own version table goes.
      if (tableExists(db, 'task_schema')) db.exec('DROP TABLE task_schema');
      heldSchema = outcome.adopted.length > 0;
    }
    const counts = recorded(db, steps);
    const pending = SCHEMA_PARTS.flatMap((part) => steps[part].slice(counts.get(part)!).map((step, i) => ({ part, step: counts.get(part)! + i + 1, name: step.name })));
    if (heldSchema && pending.length > 0) onUpgrade?.(pending);
    const record = db.prepare('INSERT INTO schema_migrations (part, step, name, applied_at) VALUES (?, ?, ?, ?)');
    for (const { part, step, name } of pending) {
      const schemaStep = steps[part][step - 1]!;
      for (const [fn, body] of Object.entries(schemaStep.functions ?? {})) db.function(fn, { deterministic: true }, body);
      db.exec(schemaStep.sql);
      record.run(part, step, name, now());
      outcome.applied.push({ part, step, name });
    }
    db.pragma(`user_version = ${RUNNER_USER_VERSION}`);
  }).immediate();
  return outcome;
}

/** The steps recorded in the file, by part and order (`cla-hub` diagnostics and tests). */
export function appliedSteps(db: Database.Database): AppliedStep[] {
  if (!tableExists(db, 'schema_migrations')) return [];
  return db.prepare('SELECT part, step, name FROM schema_migrations ORDER BY part, step').all() as AppliedStep[];
}
