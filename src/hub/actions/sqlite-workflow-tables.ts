/**
 * The SQL of the SQLite workflow backend, synchronous (better-sqlite3): one method per WorkflowStore
 * operation. ./sqlite-workflow-store.ts runs these inside group commits; nothing else should call them.
 * The tables are `WORKFLOW_STEPS` in src/store/schema-steps.ts, applied by the file's one migration
 * runner when the connection is opened.
 */
import type Database from 'better-sqlite3';
import { unpackStepSnapshot, type StepSubscriber } from '../../../machines/workflow-step.helpers.ts';
import type { WireError } from '../../errors.ts';
import { migrate } from '../../store/migrations.ts';
import { savepointRunner, statementCache } from '../../store/sqlite-connection.ts';
import {
  MAX_MESSAGES_PER_ANSWER,
  type AnswerRow,
  type MessageRow,
  type NewRun,
  type NewStep,
  type RunDetail,
  type RunPatch,
  type RunRow,
  type RunState,
  type StepPatch,
  type StepRow,
  type StoredRun,
  mayWriteRun,
  runNotFound,
  runNotOwned,
} from './workflow-store.ts';

interface RunRecord {
  id: string;
  workflow: string;
  trigger: string;
  state: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  reason: string | null;
  definition: string;
  snapshot: string | null;
  owner: string | null;
}

const toRun = (r: RunRecord): RunRow => ({
  id: r.id,
  workflow: r.workflow,
  trigger: r.trigger,
  state: r.state as RunState,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  reason: r.reason,
});

const toStoredRun = (r: RunRecord): StoredRun => ({ ...toRun(r), definition: r.definition, snapshot: r.snapshot, owner: r.owner });

/**
 * The subscribers of a step whose first write kept them in its snapshot (`workflow_steps.roster`, the
 * `step-roster` schema step). Every later change of a subscriber's status is written in an answer set
 * (`workflow_answer_sets`, see SqliteWorkflowTables.addAnswerSets), in the same write as any snapshot: a
 * subscriber's status and answer time are its latest set's, else the roster's. Its answer row, written
 * by `markSent`, `recordError` or `recordProgress`, holds its send time, error and progress.
 */
interface Roster {
  /** When the start's broadcast went out (null: it went out later, each send noted in the rows). */
  sentAt: number | null;
  /** The subscribers the start's broadcast did not reach (disconnected then). */
  unsent: ReadonlySet<string>;
  subscribers: ReadonlyMap<string, StepSubscriber>;
}

/** Rosters kept per connection for materializing rows (waiting steps; a few at a time). */
const MAX_CACHED_ROSTERS = 32;

function parseRoster(roster: string, snapshot: string | null): Roster {
  const { sentAt, unsent } = JSON.parse(roster) as { sentAt: number | null; unsent: string[] };
  const list = snapshot ? unpackStepSnapshot(JSON.parse(snapshot)).context.subscribers : [];
  return { sentAt, unsent: new Set(unsent), subscribers: new Map(list.map((s) => [s.id, s])) };
}

/** The workflow operations on one better-sqlite3 connection, synchronous; new runs owned by `hubId`. */
export class SqliteWorkflowTables {
  private readonly stmt: (sql: string) => Database.Statement;

  constructor(
    readonly db: Database.Database,
    readonly hubId: string,
  ) {
    migrate(db);
    this.stmt = statementCache(db);
    this.transaction = savepointRunner(db);
  }

  /** Runs a function in a savepoint (see {@link savepointRunner}). */
  private readonly transaction: <T>(fn: () => T) => T;

  /** The rosters of steps this connection wrote rows for lately, by message id (see {@link materialize}). */
  private readonly rosters = new Map<string, Roster>();

  /** Throws RUN_NOT_OWNED when run `id` is another hub's (a missing run is nobody's); in the write's own transaction. */
  private fence(id: string): void {
    const row = this.stmt('SELECT owner FROM workflow_runs WHERE id = ?').get(id) as { owner: string | null } | undefined;
    if (row && !mayWriteRun(row.owner, this.hubId)) throw runNotOwned(id, row.owner!, this.hubId);
  }

  /** {@link fence} for the run of the step sent as `messageId`; true when the step has a roster (see {@link Roster}). */
  private fenceStep(messageId: string): boolean {
    const row = this.stmt(
      'SELECT r.id, r.owner, s.roster IS NOT NULL AS rostered FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id WHERE s.message_id = ?',
    ).get(messageId) as { id: string; owner: string | null; rostered: number } | undefined;
    if (row && !mayWriteRun(row.owner, this.hubId)) throw runNotOwned(row.id, row.owner!, this.hubId);
    return row?.rostered === 1;
  }

  createRun(run: NewRun): void {
    this.stmt(
      `INSERT INTO workflow_runs (id, workflow, trigger, state, created_at, started_at, finished_at, reason, definition, owner)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(run.id, run.workflow, run.trigger, run.state, run.createdAt, run.startedAt, run.finishedAt, run.reason, run.definition, this.hubId);
  }

  /** Stores the run machine's state and snapshot; `startedAt`/`finishedAt` are set once. */
  updateRun(id: string, patch: RunPatch): void {
    const final = patch.state !== 'pending' && patch.state !== 'running';
    this.fence(id);
    this.stmt(
      `UPDATE workflow_runs SET state = ?, snapshot = ?, reason = ?,
         started_at = CASE WHEN started_at IS NULL AND ? THEN ? ELSE started_at END,
         finished_at = CASE WHEN finished_at IS NULL AND ? THEN ? ELSE finished_at END
       WHERE id = ?`,
    ).run(patch.state, patch.snapshot, patch.reason, patch.state === 'running' ? 1 : 0, patch.at, final ? 1 : 0, patch.at, id);
  }

  getStoredRun(id: string): StoredRun | undefined {
    const r = this.stmt('SELECT * FROM workflow_runs WHERE id = ?').get(id) as RunRecord | undefined;
    return r && toStoredRun(r);
  }

  activeRuns(): StoredRun[] {
    const rows = this.stmt(`SELECT * FROM workflow_runs WHERE state IN ('pending', 'running') AND (owner = ? OR owner IS NULL) ORDER BY created_at, rowid`).all(this.hubId);
    return (rows as RunRecord[]).map(toStoredRun);
  }

  adoptRuns(fromHub: string): string[] {
    const ids = this.stmt(`SELECT id FROM workflow_runs WHERE owner = ? AND state IN ('pending', 'running') ORDER BY created_at, rowid`).pluck().all(fromHub) as string[];
    const take = this.stmt('UPDATE workflow_runs SET owner = ? WHERE id = ? AND owner = ?');
    return ids.filter((id) => take.run(this.hubId, id, fromHub).changes === 1);
  }

  activeRunsOf(workflow: string): StoredRun[] {
    const rows = this.stmt(`SELECT * FROM workflow_runs WHERE workflow = ? AND state IN ('pending', 'running') ORDER BY created_at, rowid`).all(workflow);
    return (rows as RunRecord[]).map(toStoredRun);
  }

  /** The most recent runs first. */
  listRuns(limit = 50, workflow?: string): RunRow[] {
    // `LIMIT CAST(? AS INTEGER)`: a bare `LIMIT ?` is prepared again at every run (src/hub/tasks/sqlite-task-tables.ts).
    const rows = workflow
      ? this.stmt('SELECT * FROM workflow_runs WHERE workflow = ? ORDER BY created_at DESC, rowid DESC LIMIT CAST(? AS INTEGER)').all(workflow, limit)
      : this.stmt('SELECT * FROM workflow_runs ORDER BY created_at DESC, rowid DESC LIMIT CAST(? AS INTEGER)').all(limit);
    return (rows as RunRecord[]).map(toRun);
  }

  /** Finds a run by its id or a unique prefix of it (at least 4 characters). */
  resolveRunId(idOrPrefix: string): string {
    if (this.stmt('SELECT 1 FROM workflow_runs WHERE id = ?').get(idOrPrefix)) return idOrPrefix;
    const matches =
      idOrPrefix.length >= 4
        ? (this.stmt(`SELECT id FROM workflow_runs WHERE substr(id, 1, ?) = ? LIMIT 2`).all(idOrPrefix.length, idOrPrefix) as Array<{ id: string }>)
        : [];
    if (matches.length === 1) return matches[0]!.id;
    throw runNotFound(idOrPrefix, matches.length > 1);
  }

  startStep(step: NewStep): void {
    this.fence(step.runId);
    this.stmt(
      `INSERT OR IGNORE INTO workflow_steps (run_id, idx, name, action, message_id, state, started_at, deadline)
       VALUES (?, ?, ?, ?, ?, 'waiting', ?, ?)`,
    ).run(step.runId, step.index, step.name, step.action, step.messageId, step.startedAt, step.deadline);
  }

  /** Stores the step machine's state and snapshot, and the status of the subscribers given (those that changed). */
  updateStep(messageId: string, patch: StepPatch): void {
    this.transaction(() => {
      const rostered = this.fenceStep(messageId);
      if (patch.state !== 'waiting') this.rosters.delete(messageId);
      if (patch.initial && patch.snapshot !== undefined && this.startRoster(messageId, patch)) return;
      this.stmt('UPDATE workflow_steps SET state = ?, snapshot = COALESCE(?, snapshot), finished_at = COALESCE(finished_at, ?) WHERE message_id = ?').run(
        patch.state,
        patch.snapshot ?? null,
        patch.finishedAt,
        messageId,
      );
      if (rostered) {
        // The step's end with its final snapshot, which holds every subscriber's final answer: its sets
        // are dropped, so a finished step keeps none (a restored step's end is written so, see
        // workflow-run-runtime.ts). Otherwise each subscriber is in one set at most, its final answer.
        if (patch.state !== 'waiting' && patch.snapshot !== undefined) this.stmt('DELETE FROM workflow_answer_sets WHERE message_id = ?').run(messageId);
        else this.addAnswerSets(messageId, patch.subscribers);
        if (patch.sent && patch.sent.subscribers.length > 0) this.setSent(messageId, patch.sent.subscribers, patch.sent.at);
        return;
      }
      // The send time goes in with the rows it belongs to (a step's start: its rows and its broadcast).
      const sent = patch.sent;
      const unsent = sent && sent.subscribers.length > 0 ? new Set(sent.subscribers) : undefined;
      // One statement per group of rows that differ only in the subscriber (a JSON array of ids), not one
      // per subscriber: a 1,000-worker step writes 1,000 rows at its start and 1,000 answers per round,
      // in one or two groups (issue 9). Ids alone in the JSON cost the statement half of what whole rows
      // did (microbenchmark: 3.7 -> 1.4 ms for the 1,000 rows of a start).
      const groups = new Map<string, { values: [number, string, number | null, number | null]; ids: string[] }>();
      for (const s of patch.subscribers) {
        const sentAt = unsent?.delete(s.id) ? sent!.at : null;
        const key = `${s.wait ? 1 : 0} ${s.status} ${s.answeredAt} ${sentAt}`;
        const group = groups.get(key);
        if (group) group.ids.push(s.id);
        else groups.set(key, { values: [s.wait ? 1 : 0, s.status, s.answeredAt, sentAt], ids: [s.id] });
      }
      for (const { values, ids } of groups.values()) {
        this.stmt(
          `INSERT INTO workflow_answers (message_id, subscriber, wait, status, answered_at, sent_at)
           SELECT ?, value, ?, ?, ?, ? FROM json_each(?) WHERE true
           ON CONFLICT (message_id, subscriber) DO UPDATE SET status = excluded.status, answered_at = excluded.answered_at,
             sent_at = COALESCE(excluded.sent_at, workflow_answers.sent_at)`,
        ).run(messageId, ...values, JSON.stringify(ids));
      }
      if (unsent && unsent.size > 0) this.setSent(messageId, [...unsent], sent!.at);
    });
  }

  /**
   * The subscribers of a step with a roster whose status changed, as `workflow_answer_sets` rows: one per
   * group that changed alike (status, answer time), the ids as one JSON array, instead of a row per
   * subscriber (issue 9: a broadcast's 1,000 answers per round were 1,000 rows). A later set wins.
   */
  private addAnswerSets(messageId: string, subscribers: readonly StepSubscriber[]): void {
    const groups = new Map<string, { wait: number; status: string; answeredAt: number | null; ids: string[] }>();
    for (const s of subscribers) {
      const key = `${s.wait ? 1 : 0} ${s.status} ${s.answeredAt}`;
      const group = groups.get(key);
      if (group) group.ids.push(s.id);
      else groups.set(key, { wait: s.wait ? 1 : 0, status: s.status, answeredAt: s.answeredAt, ids: [s.id] });
    }
    const insert = this.stmt(
      `INSERT INTO workflow_answer_sets (message_id, seq, wait, status, answered_at, subscribers)
       VALUES (?, (SELECT COALESCE(max(seq), 0) + 1 FROM workflow_answer_sets WHERE message_id = ?), ?, ?, ?, ?)`,
    );
    for (const g of groups.values()) insert.run(messageId, messageId, g.wait, g.status, g.answeredAt, JSON.stringify(g.ids));
  }

  /** The latest set of each subscriber of a step with a roster (see {@link addAnswerSets}). */
  private answerSets(messageId: string): Map<string, AnswerSet> {
    const latest = new Map<string, AnswerSet>();
    const rows = this.stmt('SELECT wait, status, answered_at, subscribers FROM workflow_answer_sets WHERE message_id = ? ORDER BY seq').all(messageId) as Array<{
      wait: number;
      status: string;
      answered_at: number | null;
      subscribers: string;
    }>;
    for (const r of rows) {
      const set = { wait: r.wait === 1, status: r.status, answeredAt: r.answered_at };
      for (const id of JSON.parse(r.subscribers) as string[]) latest.set(id, set);
    }
    return latest;
  }

  /**
   * A step's first write without answer rows: its subscribers stay in the snapshot, with the start's
   * send time and whom it did not reach in `roster` (issue 9: each subscriber's row is then written
   * once per round, when it answers). False when there is no step row to hold them (rows are written).
   */
  private startRoster(messageId: string, patch: StepPatch): boolean {
    const sent = patch.sent;
    let unsent: string[] = [];
    // The broadcast goes to the step's subscribers: as many sent as there are means all of them.
    if (sent && sent.subscribers.length < patch.subscribers.length) {
      const reached = new Set(sent.subscribers);
      unsent = patch.subscribers.filter((s) => !reached.has(s.id)).map((s) => s.id);
    }
    const roster = JSON.stringify({ sentAt: sent && sent.subscribers.length > 0 ? sent.at : null, unsent });
    const { changes } = this.stmt(
      'UPDATE workflow_steps SET state = ?, snapshot = ?, finished_at = COALESCE(finished_at, ?), roster = ? WHERE message_id = ?',
    ).run(patch.state, patch.snapshot!, patch.finishedAt, roster, messageId);
    this.rosters.delete(messageId);
    return changes > 0;
  }

  /** The roster of a step that has one, parsed once per step (see {@link Roster}). */
  private roster(messageId: string): Roster | undefined {
    const cached = this.rosters.get(messageId);
    if (cached) return cached;
    const row = this.stmt('SELECT roster, snapshot FROM workflow_steps WHERE message_id = ? AND roster IS NOT NULL').get(messageId) as
      | { roster: string; snapshot: string | null }
      | undefined;
    if (!row) return undefined;
    const roster = parseRoster(row.roster, row.snapshot);
    if (this.rosters.size >= MAX_CACHED_ROSTERS) this.rosters.delete(this.rosters.keys().next().value!);
    this.rosters.set(messageId, roster);
    return roster;
  }

  /**
   * Writes the rows of these subscribers of a step with a roster as the roster has them, where they
   * have none yet, so that a statement changing their rows finds them. Their status there may be older
   * than their latest answer set, which readers take instead (see {@link Roster}).
   */
  private materialize(messageId: string, subscribers: readonly string[]): void {
    const roster = this.roster(messageId);
    if (!roster) return;
    const insert = this.stmt('INSERT OR IGNORE INTO workflow_answers (message_id, subscriber, wait, status, sent_at, answered_at) VALUES (?, ?, ?, ?, ?, ?)');
    for (const id of subscribers) {
      const s = roster.subscribers.get(id);
      if (s) insert.run(messageId, id, s.wait ? 1 : 0, s.status, roster.unsent.has(id) ? null : roster.sentAt, s.answeredAt);
    }
  }

  getStep(runId: string, index: number): StepRow | undefined {
    const r = this.stmt('SELECT * FROM workflow_steps WHERE run_id = ? AND idx = ?').get(runId, index) as Record<string, unknown> | undefined;
    return r && toStep(r);
  }

  /** Notes when the action frame went to subscribers (first send and every resend), in one transaction. */
  markSent(messageId: string, subscribers: readonly string[], at: number): void {
    this.transaction(() => {
      this.fenceStep(messageId);
      this.setSent(messageId, subscribers, at);
    });
  }

  /** markSent without the fence: one statement for all of them (see updateStep). */
  private setSent(messageId: string, subscribers: readonly string[], at: number): void {
    this.materialize(messageId, subscribers);
    this.stmt('UPDATE workflow_answers SET sent_at = ? WHERE message_id = ? AND subscriber IN (SELECT value FROM json_each(?))').run(at, messageId, JSON.stringify(subscribers));
  }

  recordError(messageId: string, subscriber: string, error: WireError): void {
    this.fenceStep(messageId);
    this.materialize(messageId, [subscriber]);
    this.stmt('UPDATE workflow_answers SET error = ? WHERE message_id = ? AND subscriber = ?').run(JSON.stringify(error), messageId, subscriber);
  }

  recordProgress(messageId: string, subscriber: string, current: number, total: number, message: string | null): void {
    this.fenceStep(messageId);
    this.materialize(messageId, [subscriber]);
    this.stmt('UPDATE workflow_answers SET progress_current = ?, progress_total = ?, progress_message = ? WHERE message_id = ? AND subscriber = ?').run(
      current,
      total,
      message,
      messageId,
      subscriber,
    );
  }

  /** Stores an `action_info`; false when the answer already has {@link MAX_MESSAGES_PER_ANSWER}. */
  addMessage(messageId: string, subscriber: string, at: number, level: string, message: string): boolean {
    this.fenceStep(messageId);
    const { n } = this.stmt('SELECT count(*) AS n FROM workflow_messages WHERE message_id = ? AND subscriber = ?').get(messageId, subscriber) as { n: number };
    if (n >= MAX_MESSAGES_PER_ANSWER) return false;
    this.stmt('INSERT INTO workflow_messages (message_id, subscriber, at, level, message) VALUES (?, ?, ?, ?, ?)').run(messageId, subscriber, at, level, message);
    return true;
  }

  /** Deletes finished runs created before `before` (ms), with their steps, answers and messages; returns how many. */
  pruneRuns(before: number): number {
    return this.transaction(() => {
      const ids = (this.stmt(`SELECT id FROM workflow_runs WHERE created_at < ? AND state NOT IN ('pending', 'running')`).all(before) as Array<{ id: string }>).map((r) => r.id);
      for (const id of ids) {
        for (const { message_id } of this.stmt('SELECT message_id FROM workflow_steps WHERE run_id = ?').all(id) as Array<{ message_id: string }>) {
          this.stmt('DELETE FROM workflow_answers WHERE message_id = ?').run(message_id);
          this.stmt('DELETE FROM workflow_answer_sets WHERE message_id = ?').run(message_id);
          this.stmt('DELETE FROM workflow_messages WHERE message_id = ?').run(message_id);
        }
        this.stmt('DELETE FROM workflow_steps WHERE run_id = ?').run(id);
        this.stmt('DELETE FROM workflow_runs WHERE id = ?').run(id);
      }
      return ids.length;
    });
  }

  /** Everything about one run (id or unique prefix). */
  getRun(idOrPrefix: string): RunDetail {
    const id = this.resolveRunId(idOrPrefix);
    const run = toRun(this.stmt('SELECT * FROM workflow_runs WHERE id = ?').get(id) as RunRecord);
    const steps = (this.stmt('SELECT * FROM workflow_steps WHERE run_id = ? ORDER BY idx').all(id) as Array<Record<string, unknown>>).map((r) => {
      const { snapshot, ...step } = toStep(r);
      const rows = (this.stmt('SELECT * FROM workflow_answers WHERE message_id = ? ORDER BY subscriber').all(step.messageId) as Array<Record<string, unknown>>).map(toAnswer);
      const answers = typeof r.roster === 'string' ? withRoster(rows, parseRoster(r.roster, snapshot), this.answerSets(step.messageId)) : rows;
      const messages = (
        this.stmt('SELECT subscriber, at, level, message FROM workflow_messages WHERE message_id = ? ORDER BY seq').all(step.messageId) as MessageRow[]
      ).map((m) => ({ ...m }));
      return { ...step, answers, messages };
    });
    return { run, steps };
  }
}

function toStep(r: Record<string, unknown>): StepRow {
  return {
    runId: r.run_id as string,
    index: r.idx as number,
    name: r.name as string,
    action: r.action as string,
    messageId: r.message_id as string,
    state: r.state as string,
    startedAt: r.started_at as number,
    deadline: r.deadline as number,
    finishedAt: (r.finished_at as number | null) ?? null,
    snapshot: (r.snapshot as string | null) ?? null,
  };
}

/** What a subscriber's latest answer set says of it (`workflow_answer_sets`). */
interface AnswerSet {
  wait: boolean;
  status: string;
  answeredAt: number | null;
}

/**
 * A step's answer rows with its roster and answer sets: each subscriber's status and answer time from its
 * latest set where it has one, else from the roster (its row's may be older), the start's send time where
 * a row has none, and a row for each subscriber without one.
 */
function withRoster(rows: AnswerRow[], roster: Roster, sets: ReadonlyMap<string, AnswerSet>): AnswerRow[] {
  const sentAt = (id: string) => (roster.unsent.has(id) ? null : roster.sentAt);
  const have = new Set<string>();
  for (const a of rows) {
    have.add(a.subscriber);
    if (a.sentAt === null && roster.subscribers.has(a.subscriber)) a.sentAt = sentAt(a.subscriber);
    // A finished step may keep no set: its row's status may be older than the roster's (see updateStep).
    const set = sets.get(a.subscriber) ?? roster.subscribers.get(a.subscriber);
    if (set) {
      a.wait = set.wait;
      a.status = set.status;
      a.answeredAt = set.answeredAt;
    }
  }
  const answers = [...rows];
  for (const s of roster.subscribers.values()) {
    if (have.has(s.id)) continue;
    const { wait, status, answeredAt } = sets.get(s.id) ?? s;
    answers.push({ subscriber: s.id, wait, status, sentAt: sentAt(s.id), answeredAt, error: null, progress: null });
  }
  return answers.length === rows.length ? answers : answers.sort((a, b) => (a.subscriber < b.subscriber ? -1 : a.subscriber > b.subscriber ? 1 : 0));
}

function toAnswer(r: Record<string, unknown>): AnswerRow {
  return {
    subscriber: r.subscriber as string,
    wait: r.wait === 1,
    status: r.status as string,
    sentAt: (r.sent_at as number | null) ?? null,
    answeredAt: (r.answered_at as number | null) ?? null,
    error: r.error ? (JSON.parse(r.error as string) as WireError) : null,
    progress:
      r.progress_total === null || r.progress_total === undefined
        ? null
        : { current: r.progress_current as number, total: r.progress_total as number, message: (r.progress_message as string | null) ?? null },
  };
}
