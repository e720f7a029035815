/**
 * The in-memory view a {@link JetStreamTaskStore} keeps of its task bucket (./jetstream-task-store.ts):
 * every task's last row and KV revision, fed by the store's own writes and by a KV watch of the bucket
 * (the other hubs' writes). It answers the queries the bucket cannot answer cheaply on nats-server 2.9
 * (pending by submission order and name, expiring leases, counts); every change still goes
 * to the bucket by compare-and-set, so a lagging view can only make a conditional write fail or retry,
 * never apply twice.
 */
import { TASK_STATES, type TaskRow, type TaskState } from '../hub/tasks/task-store.ts';

/** A slim row's data: msgpack nil (the real bytes stay in the bucket). */
const NIL_BYTES: Uint8Array = Uint8Array.of(0xc0);

/** A row and the KV revision it was read at. */
export interface IndexedTask {
  row: TaskRow;
  revision: number;
  /** An ended row kept without its data, result and error (read them from the bucket). */
  slim?: true;
}

const isEnded = (state: TaskState) => state === 'done' || state === 'failed';

/**
 * Task ids ordered by seq, with lazy removal: tasks mostly arrive in seq order and leave from the
 * front (oldest leased first), so removal only forgets the id and the array is compacted once half dead.
 */
export class SeqList {
  private seqs: number[] = [];
  private readonly ids = new Map<number, string>();
  private dead = 0;

  get size(): number {
    return this.ids.size;
  }

  add(seq: number, id: string): void {
    if (this.ids.has(seq)) return;
    this.ids.set(seq, id);
    const last = this.seqs.length === 0 ? 0 : this.seqs[this.seqs.length - 1]!;
    if (seq > last) {
      this.seqs.push(seq);
      return;
    }
    const at = this.firstAfter(seq - 1);
    if (this.seqs[at] === seq) this.dead -= 1; // a dead slot comes back to life
    else this.seqs.splice(at, 0, seq);
  }

  remove(seq: number): void {
    if (!this.ids.delete(seq)) return;
    this.dead += 1;
    if (this.dead > 1024 && this.dead * 2 > this.seqs.length) {
      this.seqs = this.seqs.filter((s) => this.ids.has(s));
      this.dead = 0;
    }
  }

  /** Ids with seq > `afterSeq`, oldest first. */
  *after(afterSeq: number): Generator<string> {
    for (let i = this.firstAfter(afterSeq); i < this.seqs.length; i++) {
      const id = this.ids.get(this.seqs[i]!);
      if (id !== undefined) yield id;
    }
  }

  /** Ids, newest first. */
  *newestFirst(): Generator<string> {
    for (let i = this.seqs.length - 1; i >= 0; i--) {
      const id = this.ids.get(this.seqs[i]!);
      if (id !== undefined) yield id;
    }
  }

  /** Index of the first seq > `seq` (binary search). */
  private firstAfter(seq: number): number {
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid]! <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Every task of one bucket as last seen, with the indexes the store's queries walk. */
export class TaskIndex {
  private readonly tasks = new Map<string, IndexedTask>();
  /** Every task, by seq (list). */
  readonly all = new SeqList();
  /** Pending tasks, by seq (pending, deadlines). */
  readonly pendingTasks = new SeqList();
  /** Claimed tasks (expiry, recovery). */
  readonly active = new Set<string>();
  readonly counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  /** Highest seq seen. */
  maxSeq = 0;

  get(id: string): IndexedTask | undefined {
    return this.tasks.get(id);
  }

  /** Whether `revision` of `id` is already known (or an older one than known). */
  knows(id: string, revision: number): boolean {
    return (this.tasks.get(id)?.revision ?? 0) >= revision;
  }

  /** Records `row` at `revision` unless a newer revision is known; returns the row it replaced, or `false` when skipped. */
  apply(row: TaskRow, revision: number): TaskRow | undefined | false {
    const before = this.tasks.get(row.id);
    if (before && before.revision >= revision) return false;
    // An ended task changes no more: its payloads are left to the bucket, so the index stays small.
    this.tasks.set(row.id, isEnded(row.state) ? { row: { ...row, data: NIL_BYTES, result: null, error: null }, revision, slim: true } : { row, revision });
    if (before) {
      this.counts[before.row.state] -= 1;
      if (before.row.state === 'pending') this.pendingTasks.remove(before.row.seq);
    } else {
      this.all.add(row.seq, row.id);
    }
    this.counts[row.state] += 1;
    if (row.state === 'pending') this.pendingTasks.add(row.seq, row.id);
    if (row.state === 'claimed') this.active.add(row.id);
    else this.active.delete(row.id);
    if (row.seq > this.maxSeq) this.maxSeq = row.seq;
    return before?.row;
  }
}
