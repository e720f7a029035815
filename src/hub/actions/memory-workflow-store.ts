/**
 * {@link WorkflowStore} in memory: for tests and benchmarks without persistence. Several stores (one per
 * hub id) may share one {@link MemoryWorkflowTables}, as several hubs share one backend. Each method
 * applies its whole change before it returns, so it is atomic and calls take effect in call order; rows
 * handed out are copies.
 */
import type { WireError } from '../../errors.ts';
import { DEFAULT_HUB_ID } from '../tasks/task-store.ts';
import {
  ACTIVE_RUN_STATES,
  MAX_MESSAGES_PER_ANSWER,
  type AnswerRow,
  type MessageRow,
  type NewRun,
  type NewStep,
  type RunDetail,
  type RunPatch,
  type RunRow,
  type StepPatch,
  type StepRow,
  type StoredRun,
  type WorkflowStore,
  type WorkflowStoreOptions,
  mayWriteRun,
  runNotFound,
  runNotOwned,
} from './workflow-store.ts';

interface RunEntry extends StoredRun {
  /** Creation order (SQLite's rowid). */
  seq: number;
}

/** The shared state of in-memory workflow stores. */
export class MemoryWorkflowTables {
  readonly runs = new Map<string, RunEntry>();
  /** Steps by message id. */
  readonly steps = new Map<string, StepRow>();
  /** Answers by message id, then subscriber. */
  readonly answers = new Map<string, Map<string, AnswerRow>>();
  /** Messages by message id, in arrival order. */
  readonly messages = new Map<string, MessageRow[]>();
  seq = 0;
}

const isActive = (run: RunRow) => ACTIVE_RUN_STATES.includes(run.state);
const runRow = ({ id, workflow, trigger, state, createdAt, startedAt, finishedAt, reason }: RunEntry): RunRow => ({
  id,
  workflow,
  trigger,
  state,
  createdAt,
  startedAt,
  finishedAt,
  reason,
});
const storedRun = (r: RunEntry): StoredRun => ({ ...runRow(r), definition: r.definition, snapshot: r.snapshot, owner: r.owner });
const byCreation = (a: RunEntry, b: RunEntry) => a.createdAt - b.createdAt || a.seq - b.seq;

/** A {@link WorkflowStore} on {@link MemoryWorkflowTables}. */
export class MemoryWorkflowStore implements WorkflowStore {
  readonly hubId: string;

  constructor(
    readonly tables: MemoryWorkflowTables = new MemoryWorkflowTables(),
    options: WorkflowStoreOptions = {},
  ) {
    this.hubId = options.hubId ?? DEFAULT_HUB_ID;
  }

  async createRun(run: NewRun): Promise<void> {
    if (this.tables.runs.has(run.id)) throw new Error(`workflow run ${run.id} already exists`);
    const { id, workflow, trigger, state, createdAt, startedAt, finishedAt, reason, definition } = run;
    this.tables.runs.set(id, { id, workflow, trigger, state, createdAt, startedAt, finishedAt, reason, definition, snapshot: null, owner: this.hubId, seq: (this.tables.seq += 1) });
  }

  /** Throws RUN_NOT_OWNED when `runId` is another hub's (a missing run is nobody's). */
  private fence(runId: string | undefined): void {
    const owner = runId === undefined ? undefined : this.tables.runs.get(runId)?.owner;
    if (!mayWriteRun(owner, this.hubId)) throw runNotOwned(runId!, owner!, this.hubId);
  }

  /** {@link fence} for the run of the step sent as `messageId`. */
  private fenceStep(messageId: string): void {
    this.fence(this.tables.steps.get(messageId)?.runId);
  }

  async updateRun(id: string, patch: RunPatch): Promise<void> {
    const run = this.tables.runs.get(id);
    if (!run) return;
    this.fence(id);
    run.state = patch.state;
    run.snapshot = patch.snapshot;
    run.reason = patch.reason;
    if (run.startedAt === null && patch.state === 'running') run.startedAt = patch.at;
    if (run.finishedAt === null && !ACTIVE_RUN_STATES.includes(patch.state)) run.finishedAt = patch.at;
  }

  async getStoredRun(id: string): Promise<StoredRun | undefined> {
    const run = this.tables.runs.get(id);
    return run && storedRun(run);
  }

  async activeRuns(): Promise<StoredRun[]> {
    return [...this.tables.runs.values()]
      .filter((r) => isActive(r) && (r.owner === this.hubId || r.owner === null))
      .sort(byCreation)
      .map(storedRun);
  }

  async adoptRuns(fromHub: string): Promise<string[]> {
    const runs = [...this.tables.runs.values()].filter((r) => isActive(r) && r.owner === fromHub).sort(byCreation);
    for (const run of runs) run.owner = this.hubId;
    return runs.map((r) => r.id);
  }

  async activeRunsOf(workflow: string): Promise<StoredRun[]> {
    return [...this.tables.runs.values()].filter((r) => isActive(r) && r.workflow === workflow).sort(byCreation).map(storedRun);
  }

  async listRuns(limit = 50, workflow?: string): Promise<RunRow[]> {
    return [...this.tables.runs.values()]
      .filter((r) => workflow === undefined || r.workflow === workflow)
      .sort((a, b) => byCreation(b, a))
      .slice(0, limit)
      .map(runRow);
  }

  async resolveRunId(idOrPrefix: string): Promise<string> {
    return this.resolve(idOrPrefix);
  }

  private resolve(idOrPrefix: string): string {
    if (this.tables.runs.has(idOrPrefix)) return idOrPrefix;
    const matches = idOrPrefix.length >= 4 ? [...this.tables.runs.keys()].filter((id) => id.startsWith(idOrPrefix)).slice(0, 2) : [];
    if (matches.length === 1) return matches[0]!;
    throw runNotFound(idOrPrefix, matches.length > 1);
  }

  async startStep(step: NewStep): Promise<void> {
    const t = this.tables;
    this.fence(step.runId);
    if (t.steps.has(step.messageId) || [...t.steps.values()].some((s) => s.runId === step.runId && s.index === step.index)) return;
    t.steps.set(step.messageId, { ...step, state: 'waiting', finishedAt: null, snapshot: null });
  }

  async updateStep(messageId: string, patch: StepPatch): Promise<void> {
    this.fenceStep(messageId);
    const step = this.tables.steps.get(messageId);
    if (step) {
      step.state = patch.state;
      if (patch.snapshot !== undefined) step.snapshot = patch.snapshot;
      step.finishedAt ??= patch.finishedAt;
    }
    let answers = this.tables.answers.get(messageId);
    if (!answers) this.tables.answers.set(messageId, (answers = new Map()));
    for (const s of patch.subscribers) {
      const answer = answers.get(s.id);
      if (answer) {
        answer.status = s.status;
        answer.answeredAt = s.answeredAt;
      } else {
        answers.set(s.id, { subscriber: s.id, wait: s.wait, status: s.status, sentAt: null, answeredAt: s.answeredAt, error: null, progress: null });
      }
    }
    if (patch.sent) this.setSent(messageId, patch.sent.subscribers, patch.sent.at);
  }

  async getStep(runId: string, index: number): Promise<StepRow | undefined> {
    for (const step of this.tables.steps.values()) if (step.runId === runId && step.index === index) return { ...step };
    return undefined;
  }

  async markSent(messageId: string, subscribers: readonly string[], at: number): Promise<void> {
    this.fenceStep(messageId);
    this.setSent(messageId, subscribers, at);
  }

  private setSent(messageId: string, subscribers: readonly string[], at: number): void {
    for (const subscriber of subscribers) {
      const answer = this.tables.answers.get(messageId)?.get(subscriber);
      if (answer) answer.sentAt = at;
    }
  }

  async recordError(messageId: string, subscriber: string, error: WireError): Promise<void> {
    this.fenceStep(messageId);
    const answer = this.tables.answers.get(messageId)?.get(subscriber);
    if (answer) answer.error = structuredClone(error);
  }

  async recordProgress(messageId: string, subscriber: string, current: number, total: number, message: string | null): Promise<void> {
    this.fenceStep(messageId);
    const answer = this.tables.answers.get(messageId)?.get(subscriber);
    if (answer) answer.progress = { current, total, message };
  }

  async addMessage(messageId: string, subscriber: string, at: number, level: string, message: string): Promise<boolean> {
    this.fenceStep(messageId);
    let list = this.tables.messages.get(messageId);
    if (!list) this.tables.messages.set(messageId, (list = []));
    if (list.filter((m) => m.subscriber === subscriber).length >= MAX_MESSAGES_PER_ANSWER) return false;
    list.push({ subscriber, at, level, message });
    return true;
  }

  async pruneRuns(before: number): Promise<number> {
    const t = this.tables;
    const old = [...t.runs.values()].filter((r) => r.createdAt < before && !isActive(r));
    for (const run of old) {
      for (const [messageId, step] of t.steps) {
        if (step.runId !== run.id) continue;
        t.steps.delete(messageId);
        t.answers.delete(messageId);
        t.messages.delete(messageId);
      }
      t.runs.delete(run.id);
    }
    return old.length;
  }

  async getRun(idOrPrefix: string): Promise<RunDetail> {
    const id = this.resolve(idOrPrefix);
    const steps = [...this.tables.steps.values()]
      .filter((s) => s.runId === id)
      .sort((a, b) => a.index - b.index)
      .map(({ snapshot: _snapshot, ...step }) => ({
        ...step,
        answers: [...(this.tables.answers.get(step.messageId)?.values() ?? [])]
          .sort((a, b) => (a.subscriber < b.subscriber ? -1 : a.subscriber > b.subscriber ? 1 : 0))
          .map((a) => structuredClone(a)),
        messages: (this.tables.messages.get(step.messageId) ?? []).map((m) => ({ ...m })),
      }));
    return { run: runRow(this.tables.runs.get(id)!), steps };
  }

  async close(): Promise<void> {}
}
