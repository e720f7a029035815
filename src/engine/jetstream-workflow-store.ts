/**
 * {@link WorkflowStore} on NATS JetStream (issue 10): the workflow runs several hubs share.
 *
 * Layout (nats-server 2.9: no per-key TTL, no atomic batch, no multi-filter consumers), ids as key tokens
 * by `idToken` (plain `[A-Za-z0-9_-]`, else `=` + base64url):
 * - bucket `<prefix>_wfruns`, one key per run (`<run>`): the whole run (row, definition, snapshot, owner)
 *   as JSON. `seq` (creation order) is the revision of the run's first write, kept in the record from its
 *   second write on (the first stores 0), so a create is one write.
 * - bucket `<prefix>_wfsteps`:
 *   - `s.<run>.<index>`: one step with every answer of it, one value;
 *   - `m.<messageId>`: the pointer from the action frame's message id to its step (`{runId, index}`);
 *   - `l.<messageId>.<subscriber>.<n>`: the n-th info message (0 <= n < 1000) of one answer.
 *
 * Atomicity, one operation at a time:
 * - createRun is `kv.create` (refused when the key holds a value). updateRun and adoptRuns are a
 *   compare-and-set on the run's revision, re-read and re-decided when another hub wrote meanwhile; so of
 *   two hubs adopting one run, exactly one write lands (the other sees an owner no longer `fromHub`).
 * - updateStep, markSent, recordError and recordProgress are one compare-and-set on the step value, which
 *   holds the step and all its answers.
 * - Fencing by owner (WorkflowStore): a run write is a compare-and-set whose decision checks the run's
 *   owner. Each step value carries the run's owner too, so a step write checks it in the same
 *   compare-and-set: adoptRuns first moves the run (compare-and-set), then each of its steps
 *   (compare-and-set), and only then does the adopter read them to resume. A write of the old owner that
 *   lands before the step moved is one the adopter resumes from; any later one is refused. startStep
 *   checks the run's owner before it creates the step, and takes over a step another hub created for a
 *   run it owns now (the old owner may create the next step between the adopter's two moves).
 *   addMessage reads the step's owner before it creates its slot: a message racing the adoption may still
 *   land (it is the subscriber's own words either way), never one issued after the step moved.
 * - addMessage creates slot `n` with `kv.create`: a slot is taken by exactly one writer, and no slot past
 *   999 exists, so the cap check and the insert are one write. Arrival order is the slot's revision.
 * - startStep creates the step (`kv.create`; a step already there is left as it is), then puts the
 *   pointer. A crash between the two leaves a step without pointer: calls by that message id do nothing
 *   until startStep is made again for it (as a resuming hub does), which writes the missing pointer.
 * - pruneRuns deletes, per run, the messages, pointers and steps, and the run last with a compare-and-set
 *   on its revision (counted only when that delete lands). A crash midway leaves the run (finished, old)
 *   with part of its steps gone; the next prune finishes it. Prune is idempotent.
 *
 * Index: each store watches the runs bucket (the last value per key, then every change) into a map in
 * memory that answers activeRuns, adoptRuns, listRuns, resolveRunId and pruneRuns; those first wait until
 * the watch has caught up with the bucket's last revision, so they see every write acknowledged before the
 * call. Finished runs are held without definition and snapshot (nothing but pruneRuns drops runs, from the
 * bucket or memory). Steps are not watched: they are read from the bucket (getStep, getRun) by key or key
 * listing; this store caches message id -> step key and each answer's next message slot as hints (a stale
 * slot costs a refused create and a retry), dropped when the step finishes.
 *
 * Ordering: every call of one store runs after the one before it (one chain per instance), so writes
 * issued without awaiting take effect in call order.
 *
 * Durability: a single nats-server fsyncs lazily (nats-server#7564); production runs 3 nodes and
 * `replicas: 3`, so an acknowledged write is on a majority.
 */
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { StepSubscriber } from '../../machines/workflow-step.helpers.ts';
import type { WireError } from '../errors.ts';
import { DEFAULT_HUB_ID } from '../hub/tasks/task-store.ts';
import {
  ACTIVE_RUN_STATES,
  MAX_MESSAGES_PER_ANSWER,
  mayWriteRun,
  runNotFound,
  runNotOwned,
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
} from '../hub/actions/workflow-store.ts';
import { BucketWatch, CallChain, isWrongRevision, openRetryingBucket, parseBucketOptions, type JetStreamBucketOptions } from './jetstream-buckets.ts';
import { idToken, tokenId } from './presence.ts';

/** Options of {@link JetStreamWorkflowStore}. */
export interface JetStreamWorkflowStoreOptions extends WorkflowStoreOptions, JetStreamBucketOptions {}

/** Compare-and-set retries on one value before the store gives up (another hub writing it all along). */
const MAX_CAS_RETRIES = 32;

type RunRecord = StoredRun & { seq: number };
interface StepRecord {
  step: StepRow;
  answers: Record<string, AnswerRow>;
  /** The run's owner as this step knows it: the fence of step writes (absent in steps written before owners were kept). */
  owner?: string | null;
}
interface Indexed {
  run: RunRecord;
  revision: number;
}

const isActive = (run: RunRow) => ACTIVE_RUN_STATES.includes(run.state);
const runRow = ({ id, workflow, trigger, state, createdAt, startedAt, finishedAt, reason }: RunRecord): RunRow => ({ id, workflow, trigger, state, createdAt, startedAt, finishedAt, reason });
const storedRun = (r: RunRecord): StoredRun => ({ ...runRow(r), definition: r.definition, snapshot: r.snapshot, owner: r.owner });
const byCreation = (a: RunRecord, b: RunRecord) => a.createdAt - b.createdAt || a.seq - b.seq;
const stepKey = (runId: string, index: number) => `s.${idToken(runId)}.${index}`;
const pointerKey = (messageId: string) => `m.${idToken(messageId)}`;
const messagePrefix = (messageId: string) => `l.${idToken(messageId)}`;

async function collect(keys: Promise<QueuedIterator<string>>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of await keys) out.push(key);
  return out;
}

/** A {@link WorkflowStore} on two JetStream KV buckets shared by every hub on the engine. */
export class JetStreamWorkflowStore implements WorkflowStore {
  readonly hubId: string;
  readonly runsBucket: string;
  readonly stepsBucket: string;
  private readonly connection: () => Promise<NatsConnection>;
  private readonly replicas: number;
  private readonly runs = new Map<string, Indexed>();
  /** Message id -> step key, as this store has learnt them. */
  private readonly stepKeys = new Map<string, string>();
  /** Message id -> subscriber -> next free message slot, as this store has learnt them. */
  private readonly slots = new Map<string, Map<string, number>>();
  private ready: Promise<{ runs: KV; steps: KV }> | undefined;
  private readonly watch = new BucketWatch((entry) => this.apply(entry));
  private readonly chain = new CallChain();
  private closed = false;

  /**
   * A store on the buckets reached through `nc` (a connection, or a function giving one: then nothing is
   * opened before the first call or {@link opened}). The buckets are created when missing.
   */
  constructor(nc: NatsConnection | (() => Promise<NatsConnection>), options: JetStreamWorkflowStoreOptions = {}) {
    this.hubId = options.hubId ?? DEFAULT_HUB_ID;
    const { prefix, replicas, connection } = parseBucketOptions(nc, options);
    this.runsBucket = `${prefix}_wfruns`;
    this.stepsBucket = `${prefix}_wfsteps`;
    this.connection = connection;
    this.replicas = replicas;
  }

  /** Resolves once the buckets are open and the runs loaded; rejects when they cannot be. */
  async opened(): Promise<this> {
    await this.kv();
    return this;
  }

  private async open(): Promise<{ runs: KV; steps: KV }> {
    const nc = await this.connection();
    const [runs, steps] = await Promise.all([openRetryingBucket(nc, this.runsBucket, this.replicas), openRetryingBucket(nc, this.stepsBucket, this.replicas)]);
    await this.watch.start(runs, { nc, bucket: this.runsBucket });
    return { runs, steps };
  }

  private kv(): Promise<{ runs: KV; steps: KV }> {
    if (this.closed) return Promise.reject(new Error(`The workflow store on bucket ${this.runsBucket} is closed`));
    return (this.ready ??= this.open());
  }

  /** Runs `fn` after every earlier call of this store. */
  private serial<T>(fn: (kv: { runs: KV; steps: KV }) => Promise<T>): Promise<T> {
    return this.chain.run(() => this.kv().then(fn));
  }

  // ---- the runs index ------------------------------------------------------------------------------

  /** A change of the runs bucket, as the watch delivers it. */
  private apply(entry: KvWatchEntry): void {
    if (entry.operation === 'PUT') return this.index(this.decodeRun(entry), entry.revision);
    const id = tokenId(entry.key);
    const known = this.runs.get(id);
    if (known && known.revision < entry.revision) this.runs.delete(id);
  }

  /** Holds `run` at `revision` unless a later revision is held; finished runs without definition and snapshot. */
  private index(run: RunRecord, revision: number): void {
    const known = this.runs.get(run.id);
    if (known && known.revision >= revision) return;
    this.runs.set(run.id, { run: isActive(run) ? run : { ...run, definition: '', snapshot: null }, revision });
  }

  /** Waits until the watch has seen every run write acknowledged so far. */
  private sync(runs: KV): Promise<void> {
    return this.watch.sync(runs);
  }

  private decodeRun(entry: KvEntry): RunRecord {
    const run = entry.json<RunRecord>();
    if (run.seq === 0) run.seq = entry.revision;
    return run;
  }

  private async fetchRun(runs: KV, id: string): Promise<Indexed | undefined> {
    const entry = await runs.get(idToken(id));
    if (!entry || entry.operation !== 'PUT') return undefined;
    const run = this.decodeRun(entry);
    this.index(run, entry.revision);
    return { run, revision: entry.revision };
  }

  /** Compare-and-set on a run: `decide` maps the current run to the new one, or to undefined to leave it. */
  private async changeRun(runs: KV, id: string, decide: (run: RunRecord) => RunRecord | undefined): Promise<RunRecord | undefined> {
    let current = await this.fetchRun(runs, id);
    for (let attempt = 0; current; attempt++) {
      const next = decide(current.run);
      if (!next) return undefined;
      try {
        this.index(next, await runs.update(idToken(id), JSON.stringify(next), current.revision));
        return next;
      } catch (error) {
        if (!isWrongRevision(error) || attempt >= MAX_CAS_RETRIES) throw error;
        current = await this.fetchRun(runs, id);
      }
    }
    return undefined;
  }

  // ---- steps ---------------------------------------------------------------------------------------

  private async stepKeyOf(steps: KV, messageId: string): Promise<string | undefined> {
    const known = this.stepKeys.get(messageId);
    if (known) return known;
    const entry = await steps.get(pointerKey(messageId));
    if (!entry || entry.operation !== 'PUT') return undefined;
    const { runId, index } = entry.json<{ runId: string; index: number }>();
    const key = stepKey(runId, index);
    this.stepKeys.set(messageId, key);
    return key;
  }

  /** Throws RUN_NOT_OWNED when a step value's owner is another hub. */
  private fenceStep(record: StepRecord): void {
    if (!mayWriteRun(record.owner, this.hubId)) throw runNotOwned(record.step.runId, record.owner!, this.hubId);
  }

  /** Compare-and-set on the step of `messageId` (step and answers in one value); nothing when there is no step. */
  private async changeStep(steps: KV, messageId: string, change: (record: StepRecord) => boolean): Promise<void> {
    const key = await this.stepKeyOf(steps, messageId);
    if (!key) return;
    for (let attempt = 0; ; attempt++) {
      const entry = await steps.get(key);
      if (!entry || entry.operation !== 'PUT') return;
      const record = entry.json<StepRecord>();
      this.fenceStep(record);
      if (!change(record)) return;
      try {
        await steps.update(key, JSON.stringify(record), entry.revision);
        return;
      } catch (error) {
        if (!isWrongRevision(error) || attempt >= MAX_CAS_RETRIES) throw error;
      }
    }
  }

  /** Changes one existing answer (nothing when the subscriber has none). */
  private changeAnswer(steps: KV, messageId: string, subscriber: string, change: (answer: AnswerRow) => void): Promise<void> {
    return this.changeStep(steps, messageId, (record) => {
      const answer = record.answers[subscriber];
      if (answer) change(answer);
      return answer !== undefined;
    });
  }

  // ---- WorkflowStore -------------------------------------------------------------------------------

  createRun(run: NewRun): Promise<void> {
    return this.serial(async ({ runs }) => {
      const { id, workflow, trigger, state, createdAt, startedAt, finishedAt, reason, definition } = run;
      const record: RunRecord = { id, workflow, trigger, state, createdAt, startedAt, finishedAt, reason, definition, snapshot: null, owner: this.hubId, seq: 0 };
      let revision: number;
      try {
        revision = await runs.create(idToken(id), JSON.stringify(record));
      } catch (error) {
        if (isWrongRevision(error)) throw new Error(`workflow run ${id} already exists`);
        throw error;
      }
      this.index({ ...record, seq: revision }, revision);
    });
  }

  updateRun(id: string, patch: RunPatch): Promise<void> {
    return this.serial(async ({ runs }) => {
      await this.changeRun(runs, id, (run) => ({
        ...this.fenceRun(run),
        state: patch.state,
        snapshot: patch.snapshot,
        reason: patch.reason,
        startedAt: run.startedAt === null && patch.state === 'running' ? patch.at : run.startedAt,
        finishedAt: run.finishedAt === null && !ACTIVE_RUN_STATES.includes(patch.state) ? patch.at : run.finishedAt,
      }));
    });
  }

  /** `run`, or RUN_NOT_OWNED when it is another hub's. */
  private fenceRun(run: RunRecord): RunRecord {
    if (!mayWriteRun(run.owner, this.hubId)) throw runNotOwned(run.id, run.owner!, this.hubId);
    return run;
  }

  getStoredRun(id: string): Promise<StoredRun | undefined> {
    return this.serial(async ({ runs }) => {
      const found = await this.fetchRun(runs, id);
      return found && storedRun(found.run);
    });
  }

  activeRuns(): Promise<StoredRun[]> {
    return this.serial(async ({ runs }) => {
      await this.sync(runs);
      return [...this.runs.values()]
        .map((i) => i.run)
        .filter((r) => isActive(r) && (r.owner === this.hubId || r.owner === null))
        .sort(byCreation)
        .map(storedRun);
    });
  }

  adoptRuns(fromHub: string): Promise<string[]> {
    return this.serial(async ({ runs, steps }) => {
      await this.sync(runs);
      const candidates = [...this.runs.values()]
        .map((i) => i.run)
        .filter((r) => isActive(r) && r.owner === fromHub)
        .sort(byCreation);
      const adopted = await Promise.all(candidates.map((c) => this.changeRun(runs, c.id, (run) => (isActive(run) && run.owner === fromHub ? { ...run, owner: this.hubId } : undefined))));
      const ids = candidates.filter((_, i) => adopted[i] !== undefined).map((c) => c.id);
      await Promise.all(ids.map((id) => this.takeSteps(steps, id)));
      return ids;
    });
  }

  /** Moves every step of run `runId` (owned by this hub now) to this hub, each by compare-and-set. */
  private async takeSteps(steps: KV, runId: string): Promise<void> {
    for (const key of await collect(steps.keys(`s.${idToken(runId)}.*`))) await this.takeStep(steps, key);
  }

  /** Moves one step value to this hub (compare-and-set, retried when its old owner wrote meanwhile). */
  private async takeStep(steps: KV, key: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const entry = await steps.get(key);
      if (!entry || entry.operation !== 'PUT') return;
      const record = entry.json<StepRecord>();
      if (record.owner === this.hubId) return;
      record.owner = this.hubId;
      try {
        await steps.update(key, JSON.stringify(record), entry.revision);
        return;
      } catch (error) {
        if (!isWrongRevision(error) || attempt >= MAX_CAS_RETRIES) throw error;
      }
    }
  }

  activeRunsOf(workflow: string): Promise<StoredRun[]> {
    return this.serial(async ({ runs }) => {
      await this.sync(runs);
      return [...this.runs.values()]
        .map((i) => i.run)
        .filter((r) => isActive(r) && r.workflow === workflow)
        .sort(byCreation)
        .map(storedRun);
    });
  }

  listRuns(limit = 50, workflow?: string): Promise<RunRow[]> {
    return this.serial(async ({ runs }) => {
      await this.sync(runs);
      return [...this.runs.values()]
        .map((i) => i.run)
        .filter((r) => workflow === undefined || r.workflow === workflow)
        .sort((a, b) => byCreation(b, a))
        .slice(0, limit)
        .map(runRow);
    });
  }

  resolveRunId(idOrPrefix: string): Promise<string> {
    return this.serial(({ runs }) => this.resolve(runs, idOrPrefix));
  }

  private async resolve(runs: KV, idOrPrefix: string): Promise<string> {
    if (await this.fetchRun(runs, idOrPrefix)) return idOrPrefix;
    await this.sync(runs);
    const matches = idOrPrefix.length >= 4 ? [...this.runs.keys()].filter((id) => id.startsWith(idOrPrefix)).slice(0, 2) : [];
    if (matches.length === 1) return matches[0]!;
    throw runNotFound(idOrPrefix, matches.length > 1);
  }

  startStep(step: NewStep): Promise<void> {
    return this.serial(async ({ runs, steps }) => {
      const key = stepKey(step.runId, step.index);
      const run = await this.fetchRun(runs, step.runId);
      if (run) this.fenceRun(run.run);
      const owner = run?.run.owner ?? null;
      const record: StepRecord = { step: { ...step, state: 'waiting', finishedAt: null, snapshot: null }, answers: {}, owner };
      try {
        await steps.create(key, JSON.stringify(record));
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
        // Already there: left as it is; its pointer is written again should a crash have lost it.
        const entry = await steps.get(key);
        if (!entry || entry.operation !== 'PUT' || entry.json<StepRecord>().step.messageId !== step.messageId) return;
        // Created by the run's previous owner after this hub adopted the run: this hub's now.
        if (owner === this.hubId && entry.json<StepRecord>().owner !== owner) await this.takeStep(steps, key);
      }
      await steps.put(pointerKey(step.messageId), JSON.stringify({ runId: step.runId, index: step.index }));
      this.stepKeys.set(step.messageId, key);
    });
  }

  updateStep(messageId: string, patch: StepPatch): Promise<void> {
    return this.serial(async ({ steps }) => {
      await this.changeStep(steps, messageId, (record) => {
        record.step.state = patch.state;
        if (patch.snapshot !== undefined) record.step.snapshot = patch.snapshot;
        record.step.finishedAt ??= patch.finishedAt;
        for (const s of patch.subscribers) upsertAnswer(record, s);
        if (patch.sent) setSent(record, patch.sent.subscribers, patch.sent.at);
        return true;
      });
      // The caches are hints (read again from the bucket when missing): a finished step's go, so they stay bounded by the live steps.
      if (patch.finishedAt !== null) {
        this.stepKeys.delete(messageId);
        this.slots.delete(messageId);
      }
    });
  }

  getStep(runId: string, index: number): Promise<StepRow | undefined> {
    return this.serial(async ({ steps }) => {
      const entry = await steps.get(stepKey(runId, index));
      return entry && entry.operation === 'PUT' ? entry.json<StepRecord>().step : undefined;
    });
  }

  markSent(messageId: string, subscribers: readonly string[], at: number): Promise<void> {
    return this.serial(({ steps }) =>
      this.changeStep(steps, messageId, (record) => setSent(record, subscribers, at)),
    );
  }

  recordError(messageId: string, subscriber: string, error: WireError): Promise<void> {
    return this.serial(({ steps }) => this.changeAnswer(steps, messageId, subscriber, (answer) => void (answer.error = error)));
  }

  recordProgress(messageId: string, subscriber: string, current: number, total: number, message: string | null): Promise<void> {
    return this.serial(({ steps }) => this.changeAnswer(steps, messageId, subscriber, (answer) => void (answer.progress = { current, total, message })));
  }

  addMessage(messageId: string, subscriber: string, at: number, level: string, message: string): Promise<boolean> {
    return this.serial(async ({ steps }) => {
      const key = await this.stepKeyOf(steps, messageId);
      const entry = key === undefined ? null : await steps.get(key);
      if (entry && entry.operation === 'PUT') this.fenceStep(entry.json<StepRecord>());
      const prefix = `${messagePrefix(messageId)}.${idToken(subscriber)}`;
      const slots = this.slots.get(messageId) ?? new Map<string, number>();
      this.slots.set(messageId, slots);
      let slot = slots.get(subscriber) ?? (await collect(steps.keys(`${prefix}.*`))).length;
      const value = JSON.stringify({ subscriber, at, level, message } satisfies MessageRow);
      for (; slot < MAX_MESSAGES_PER_ANSWER; slot++) {
        try {
          await steps.create(`${prefix}.${slot}`, value);
          slots.set(subscriber, slot + 1);
          return true;
        } catch (error) {
          if (!isWrongRevision(error)) throw error; // taken by another hub: the next slot
        }
      }
      slots.set(subscriber, slot);
      return false;
    });
  }

  pruneRuns(before: number): Promise<number> {
    return this.serial(async ({ runs, steps }) => {
      await this.sync(runs);
      const old = [...this.runs.values()].filter((i) => i.run.createdAt < before && !isActive(i.run));
      let pruned = 0;
      for (const { run, revision } of old) {
        for (const key of await collect(steps.keys(`s.${idToken(run.id)}.*`))) {
          const entry = await steps.get(key);
          if (entry && entry.operation === 'PUT') {
            const { messageId } = entry.json<StepRecord>().step;
            for (const m of await collect(steps.keys(`${messagePrefix(messageId)}.>`))) await steps.delete(m);
            await steps.delete(pointerKey(messageId));
            this.stepKeys.delete(messageId);
            this.slots.delete(messageId);
          }
          await steps.delete(key);
        }
        try {
          await runs.delete(idToken(run.id), { previousSeq: revision });
          this.runs.delete(run.id);
          pruned += 1;
        } catch (error) {
          if (!isWrongRevision(error)) throw error; // written or pruned by another hub meanwhile
        }
      }
      return pruned;
    });
  }

  getRun(idOrPrefix: string): Promise<RunDetail> {
    return this.serial(async ({ runs, steps }) => {
      const id = await this.resolve(runs, idOrPrefix);
      const run = (await this.fetchRun(runs, id))?.run;
      if (!run) throw runNotFound(idOrPrefix, false);
      const records: StepRecord[] = [];
      for (const key of await collect(steps.keys(`s.${idToken(id)}.*`))) {
        const entry = await steps.get(key);
        if (entry && entry.operation === 'PUT') records.push(entry.json<StepRecord>());
      }
      records.sort((a, b) => a.step.index - b.step.index);
      const detail: RunDetail = { run: runRow(run), steps: [] };
      for (const { step, answers } of records) {
        const { snapshot: _snapshot, ...row } = step;
        const messages: Array<{ row: MessageRow; revision: number }> = [];
        for (const key of await collect(steps.keys(`${messagePrefix(step.messageId)}.>`))) {
          const entry = await steps.get(key);
          if (entry && entry.operation === 'PUT') messages.push({ row: entry.json<MessageRow>(), revision: entry.revision });
        }
        detail.steps.push({
          ...row,
          answers: Object.values(answers).sort((a, b) => (a.subscriber < b.subscriber ? -1 : a.subscriber > b.subscriber ? 1 : 0)),
          messages: messages.sort((a, b) => a.revision - b.revision).map((m) => m.row),
        });
      }
      return detail;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.chain.idle();
    this.closed = true;
    await this.watch.stop();
  }
}

function upsertAnswer(record: StepRecord, s: StepSubscriber): void {
  const answer = record.answers[s.id];
  if (answer) {
    answer.status = s.status;
    answer.answeredAt = s.answeredAt;
  } else {
    record.answers[s.id] = { subscriber: s.id, wait: s.wait, status: s.status, sentAt: null, answeredAt: s.answeredAt, error: null, progress: null };
  }
}

/** Notes `at` as the send time of these subscribers' answers; true when one was there. */
function setSent(record: StepRecord, subscribers: readonly string[], at: number): boolean {
  let changed = false;
  for (const s of subscribers) {
    const answer = record.answers[s];
    if (answer) [answer.sentAt, changed] = [at, true];
  }
  return changed;
}

/** Opens a {@link JetStreamWorkflowStore} and waits until its buckets are loaded. */
export function openJetStreamWorkflowStore(nc: NatsConnection, options: JetStreamWorkflowStoreOptions = {}): Promise<JetStreamWorkflowStore> {
  return new JetStreamWorkflowStore(nc, options).opened();
}
