/**
 * Workflow runs, their steps and each subscriber's answers, behind one backend-neutral, asynchronous
 * interface (issue 9; the TaskStore model of ../tasks/task-store.ts). Every backend passes
 * test/unit/workflow-store-conformance.ts: SQLite (./sqlite-workflow-store.ts, group commit) and memory
 * (./memory-workflow-store.ts) today, NATS JetStream KV next.
 *
 * The machine snapshots (run and current step) are stored beside the rows: the rows are what
 * `cla-hub workflow list/show` prints, the snapshots are what a restarted hub resumes from. Each run
 * records the hub that owns it, so recovery at start resumes only this hub's runs and a multi-hub
 * backend can hand a dead hub's runs to another ({@link WorkflowStore.adoptRuns}).
 */
import type { StepSubscriber } from '../../../machines/workflow-step.helpers.ts';
import { ClaError, ErrorCode, type WireError } from '../../errors.ts';

/** Info messages kept per step and subscriber; later ones are counted, not stored. */
export const MAX_MESSAGES_PER_ANSWER = 1000;

/** Where a run stands: the run machine's state. */
export type RunState = 'pending' | 'running' | 'succeeded' | 'failed' | 'aborted' | 'skipped';

/** The states a run can still leave. */
export const ACTIVE_RUN_STATES: readonly RunState[] = ['pending', 'running'];

export interface RunRow {
  id: string;
  workflow: string;
  /** `manual`, `cron:EXPR` or `event:NAME`. */
  trigger: string;
  state: RunState;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  reason: string | null;
}

/** A run as {@link WorkflowStore.createRun} takes it. */
export type NewRun = RunRow & { definition: string };

export interface StoredRun extends RunRow {
  /** The definition as it was when the run was created (JSON). */
  definition: string;
  snapshot: string | null;
  /** The hub that owns the run; `null` for runs written before owners were kept (any hub's own). */
  owner: string | null;
}

export interface StepRow {
  runId: string;
  index: number;
  name: string;
  action: string;
  messageId: string;
  /** `waiting` or the step machine's final state. */
  state: string;
  startedAt: number;
  deadline: number;
  finishedAt: number | null;
  snapshot: string | null;
}

/** A step as {@link WorkflowStore.startStep} takes it. */
export type NewStep = Omit<StepRow, 'finishedAt' | 'snapshot' | 'state'>;

/** What {@link WorkflowStore.updateStep} writes. */
export interface StepPatch {
  state: string;
  /**
   * The step machine's persisted snapshot; left out, the stored one is kept. The runtime leaves it out
   * when only answers changed since it was written (they are in the answer rows, and a restored step
   * takes them from there, see workflow-run-runtime.ts), so a burst of answers does not rewrite a
   * snapshot that holds every subscriber (issue 9).
   */
  snapshot?: string;
  finishedAt: number | null;
  /** The subscribers whose status changed: upserted as answers (`wait`, `status`, `answeredAt`). */
  subscribers: readonly StepSubscriber[];
  /**
   * Then, as {@link WorkflowStore.markSent} in the same atomic step: the action frame went to these
   * subscribers at `at`. A step's start writes its answer rows and the broadcast's `sent_at` together,
   * one pass over 1,000 rows instead of two (issue 9).
   */
  sent?: { subscribers: readonly string[]; at: number };
  /**
   * The step's first write: `subscribers` is every subscriber of the step, as `snapshot` (required with
   * it) holds them. A backend may keep them in the snapshot alone instead of as rows (the SQLite one does:
   * a broadcast's 1,000 pending rows at the start and the same rows again as they answered were the
   * largest store cost of a round, issue 9), and the later changes of such a step as one record per
   * write (`workflow_answer_sets`); `getRun` lists them either way, and `markSent`, `recordError` and
   * `recordProgress` reach them either way.
   */
  initial?: boolean;
}

/** What {@link WorkflowStore.updateRun} writes; `startedAt`/`finishedAt` are set once, from `at`. */
export interface RunPatch {
  state: RunState;
  snapshot: string;
  reason: string | null;
  at: number;
}

export interface AnswerRow {
  subscriber: string;
  wait: boolean;
  status: string;
  sentAt: number | null;
  answeredAt: number | null;
  error: WireError | null;
  progress: { current: number; total: number; message: string | null } | null;
}

export interface MessageRow {
  subscriber: string;
  at: number;
  level: string;
  message: string;
}

/** What {@link WorkflowStore.resolveRunId} throws when `idOrPrefix` names no run, or several (`ambiguous`). */
export function runNotFound(idOrPrefix: string, ambiguous: boolean): ClaError {
  return new ClaError(ErrorCode.InvalidArgument, ambiguous ? `Run id prefix \`${idOrPrefix}\` is ambiguous` : `No workflow run \`${idOrPrefix}\``, {
    data: { run: idOrPrefix },
  });
}

/**
 * What a write to a run (the run, its steps, answers and messages) throws when the run is owned by another
 * hub than the writer: that hub adopted it, taking the writer for dead (issue 10). The writer stops
 * driving the run.
 */
export function runNotOwned(runId: string, owner: string, hubId: string): ClaError {
  return new ClaError(ErrorCode.RunNotOwned, `Workflow run ${runId} is owned by hub ${owner} now (it adopted the run from hub ${hubId}); hub ${hubId} no longer writes to it`, {
    data: { run: runId, owner, hub: hubId },
  });
}

/** Whether `hubId` may write to a run owned by `owner` (runs written before owners were kept are anyone's). */
export const mayWriteRun = (owner: string | null | undefined, hubId: string): boolean => owner === null || owner === undefined || owner === hubId;

/** A run with every step, answer and message: `cla-hub workflow show`. */
export interface RunDetail {
  run: RunRow;
  steps: Array<Omit<StepRow, 'snapshot'> & { answers: AnswerRow[]; messages: MessageRow[] }>;
}

/** Where a {@link WorkflowStore} runs. */
export interface WorkflowStoreOptions {
  /**
   * The hub that writes through this store: new runs are owned by it, and {@link WorkflowStore.activeRuns}
   * returns only its runs. Must be the same across restarts of one hub.
   * @default DEFAULT_HUB_ID ('hub')
   */
  hubId?: string;
}

/**
 * The workflow store: every method returns a promise that resolves once the change is durable on the
 * backend (after the commit that holds it). Calls take effect in the order they are made, so a caller
 * may issue writes without awaiting each one (the run runtime does: its machines are synchronous) and
 * await the last. Each method is atomic on its own; there is no transaction across calls.
 *
 * Writes are fenced by owner: updateRun, startStep, updateStep, markSent, recordError, recordProgress
 * and addMessage on a run owned by another hub than {@link WorkflowStore.hubId} reject with
 * `RUN_NOT_OWNED` ({@link runNotOwned}) and change nothing, so a hub that was taken for dead and whose
 * runs were adopted cannot write to them any more, whatever it still believes.
 */
export interface WorkflowStore {
  /** The owner of the runs this store creates. */
  readonly hubId: string;
  /** Stores a new run owned by {@link hubId}. */
  createRun(run: NewRun): Promise<void>;
  /** Stores the run machine's state and snapshot; `startedAt` (on `running`) and `finishedAt` (on a final state) are set once. */
  updateRun(id: string, patch: RunPatch): Promise<void>;
  getStoredRun(id: string): Promise<StoredRun | undefined>;
  /** This hub's runs not finished (pending or running), oldest first, owner-less ones included: what a restarted hub resumes. */
  activeRuns(): Promise<StoredRun[]>;
  /**
   * Takes over the active runs owned by `fromHub` (a dead hub): one conditional write per run (owner
   * still `fromHub` -> {@link hubId}), so of two hubs adopting the same run exactly one gets it. Returns
   * the ids adopted.
   */
  adoptRuns(fromHub: string): Promise<string[]>;
  /** Every hub's pending and running runs of `workflow`, oldest first: what `on_conflict` weighs across hubs. */
  activeRunsOf(workflow: string): Promise<StoredRun[]>;
  /** The most recent runs first (`limit` default 50), optionally of one workflow. */
  listRuns(limit?: number, workflow?: string): Promise<RunRow[]>;
  /**
   * Finds a run by its id or a unique prefix of it (at least 4 characters).
   * @throws ClaError `INVALID_ARGUMENT` when none or more than one matches
   */
  resolveRunId(idOrPrefix: string): Promise<string>;
  /** Stores a step as `waiting`; a step already stored (same run and index) is left as it is. */
  startStep(step: NewStep): Promise<void>;
  /** Stores the step machine's state and snapshot and upserts the answers of the subscribers given, atomically. */
  updateStep(messageId: string, patch: StepPatch): Promise<void>;
  getStep(runId: string, index: number): Promise<StepRow | undefined>;
  /** Notes when the action frame went to these subscribers (first send and every resend), atomically. */
  markSent(messageId: string, subscribers: readonly string[], at: number): Promise<void>;
  recordError(messageId: string, subscriber: string, error: WireError): Promise<void>;
  recordProgress(messageId: string, subscriber: string, current: number, total: number, message: string | null): Promise<void>;
  /** Stores an `action_info`; false when the answer already has {@link MAX_MESSAGES_PER_ANSWER} (count and insert are one atomic step). */
  addMessage(messageId: string, subscriber: string, at: number, level: string, message: string): Promise<boolean>;
  /** Deletes finished runs created before `before` (ms), with their steps, answers and messages, atomically; returns how many. */
  pruneRuns(before: number): Promise<number>;
  /**
   * Everything about one run (id or unique prefix).
   * @throws ClaError `INVALID_ARGUMENT` as {@link resolveRunId}
   */
  getRun(idOrPrefix: string): Promise<RunDetail>;
  /** Writes what is queued, then closes. */
  close(): Promise<void>;
}
