/**
 * How `cla-hub workflow run|event|abort` and `cla-hub resources tag` reach the live hub: a command
 * table in the hub's SQLite file. The CLI inserts a row and polls for its result; the hub polls the
 * table (every `pollMs`), claims each new row in one UPDATE, runs it and writes the result.
 *
 * Why a table and not admin frames: these commands need no stream back (a run id, a task id), the CLI
 * already opens the same data file for `project`/`env`/`workflow list`, and it needs no change to the
 * admin protocol nor to the admin session owned by other parts of the hub. The cost is up to `pollMs`
 * of latency and that the CLI must see the hub's data file (same host, `--data`). A command the hub has
 * not claimed within the CLI's wait is withdrawn (deleted while unclaimed), so a hub started later never
 * runs a stale command. See the report in the issue for the comparison.
 */
import type Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../clock.ts';
import { ClaError, ErrorCode, fromWireError, toWireError, type WireError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS hub_commands (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  args TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  taken_at INTEGER,
  done_at INTEGER,
  result TEXT,
  error TEXT
);
`;

/** The commands the hub runs for the CLI. */
export type HubCommand =
  | { kind: 'workflow.run'; args: { workflow: string } }
  | { kind: 'workflow.event'; args: { event: string } }
  | { kind: 'workflow.abort'; args: { run: string; reason?: string } }
  | { kind: 'resources.tag'; args: { query: string; set: Record<string, string>; remove: string[] } }
  /** `cla-hub search 'QUERY | tag update KEY VALUE'`: src/hub/actions/resource-tagging.ts `runTagLine`. */
  | { kind: 'resources.tag-line'; args: { line: string; waitMs: number } }
  /** `cla-hub subscribers`: src/hub/actions/subscriber-directory.ts. */
  | { kind: 'subscribers.list'; args: { action?: string } };

/** Runs one command; the returned plain value is the CLI's result. */
export type CommandHandler = (command: HubCommand) => unknown;

interface CommandRecord {
  id: number;
  kind: string;
  args: string;
  taken_at: number | null;
  done_at: number | null;
  result: string | null;
  error: string | null;
}

/** The `hub_commands` table. */
export class CommandTable {
  constructor(readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  /** CLI side: queue a command; returns its id. */
  enqueue(command: HubCommand, at: number): number {
    return Number(this.db.prepare('INSERT INTO hub_commands (kind, args, created_at) VALUES (?, ?, ?)').run(command.kind, JSON.stringify(command.args), at).lastInsertRowid);
  }

  /** Hub side: claims every unclaimed command, oldest first. */
  claim(at: number): Array<{ id: number; command: HubCommand }> {
    return this.db.transaction(() => {
      const rows = this.db.prepare('SELECT id, kind, args FROM hub_commands WHERE taken_at IS NULL ORDER BY id').all() as CommandRecord[];
      const take = this.db.prepare('UPDATE hub_commands SET taken_at = ? WHERE id = ? AND taken_at IS NULL');
      return rows.filter((r) => take.run(at, r.id).changes === 1).map((r) => ({ id: r.id, command: { kind: r.kind, args: JSON.parse(r.args) } as HubCommand }));
    })();
  }

  /** Hub side: stores the outcome. */
  finish(id: number, at: number, outcome: { result: unknown } | { error: WireError }): void {
    this.db
      .prepare('UPDATE hub_commands SET done_at = ?, result = ?, error = ? WHERE id = ?')
      .run(at, 'result' in outcome ? JSON.stringify(outcome.result ?? null) : null, 'error' in outcome ? JSON.stringify(outcome.error) : null, id);
  }

  /** CLI side: the outcome, `taken` while running, `queued` while unclaimed, `gone` if deleted. */
  poll(id: number): { state: 'queued' | 'taken' | 'gone' } | { state: 'done'; result: unknown } | { state: 'failed'; error: WireError } {
    const r = this.db.prepare('SELECT * FROM hub_commands WHERE id = ?').get(id) as CommandRecord | undefined;
    if (!r) return { state: 'gone' };
    if (r.done_at !== null) return r.error ? { state: 'failed', error: JSON.parse(r.error) as WireError } : { state: 'done', result: JSON.parse(r.result ?? 'null') };
    return { state: r.taken_at === null ? 'queued' : 'taken' };
  }

  /** CLI side: deletes the command if the hub has not claimed it; true when withdrawn. */
  withdraw(id: number): boolean {
    return this.db.prepare('DELETE FROM hub_commands WHERE id = ? AND taken_at IS NULL').run(id).changes === 1;
  }

  /** Hub side: forgets finished commands older than `before`. */
  prune(before: number): void {
    this.db.prepare('DELETE FROM hub_commands WHERE done_at IS NOT NULL AND done_at < ?').run(before);
  }
}

/** Hub side: polls the table and runs what it finds. */
export class CommandPoller {
  private timer: unknown;
  private stopped = true;

  constructor(
    private readonly table: CommandTable,
    private readonly handler: CommandHandler,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly pollMs = 200,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
  }

  /** Runs the commands waiting now (the poll calls it; tests call it directly). */
  async runPending(): Promise<void> {
    for (const { id, command } of this.table.claim(this.clock.now())) {
      try {
        const result = await this.handler(command);
        this.table.finish(id, this.clock.now(), { result });
      } catch (error) {
        this.log.warn({ command: command.kind, code: (error as ClaError).code }, `command failed: ${(error as Error).message}`);
        this.table.finish(id, this.clock.now(), { error: toWireError(error) });
      }
    }
    this.table.prune(this.clock.now() - 3_600_000);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.runPending()
        .catch((error: unknown) => this.log.error({ err: error }, 'command table poll failed'))
        .finally(() => this.schedule());
    }, this.pollMs);
  }
}

/**
 * CLI side: queues a command and waits (real time) for the hub's result; withdraws it if the hub does
 * not claim it within `waitMs`. Errors come back as the hub's {@link ClaError}.
 */
export async function sendHubCommand(
  table: CommandTable,
  command: HubCommand,
  options: { waitMs?: number; pollMs?: number; dataFile?: string; clock?: Clock } = {},
): Promise<unknown> {
  const clock = options.clock ?? systemClock;
  const waitMs = options.waitMs ?? 10_000;
  const id = table.enqueue(command, clock.now());
  const deadline = clock.now() + waitMs;
  for (;;) {
    const state = table.poll(id);
    if (state.state === 'done') return state.result;
    if (state.state === 'failed') throw fromWireError(state.error);
    if (state.state === 'gone') throw new ClaError(ErrorCode.Internal, `Command ${id} disappeared from the command table`);
    const now = clock.now();
    if (now > deadline && (state.state === 'queued' ? table.withdraw(id) : now > deadline + 60_000)) {
      throw new ClaError(
        ErrorCode.ConnectionFailed,
        state.state === 'queued'
          ? `The hub did not take the command within ${Math.round(waitMs / 1000)} s: is \`cla-hub start\` running on ${options.dataFile ?? 'this data file'}? (command withdrawn)`
          : 'The hub took the command but did not finish it in time',
        { retryable: true },
      );
    }
    await new Promise((resolve) => clock.setTimeout(resolve, options.pollMs ?? 50));
  }
}
