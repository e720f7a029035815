/**
 * The worker's one capacity model (issue 9): everything that occupies the process is counted here —
 * jobs (exec, eval, ship, fetch, probe), tasks held (queued in the task p-queue or running) and action
 * handlers — and the worker machine hears about it through one event, `LOAD { running }`, sent only when
 * the total reaches or leaves zero (machines/worker.machine.ts says why). A burst of tasks is then two
 * lifecycle events and at most two `state` frames, whatever its size.
 *
 * Zero crossings are reported at the end of the turn (a `setImmediate`), with the total then: a unit
 * taken and released within one turn (a short task one at a time: push read, handler run, `task_done`
 * sent, all in one turn) steps the machine not at all and costs no `state` frame, instead of two of
 * each per task (issue 9, the one-at-a-time tail: the two LOAD steps were ~40 % of a worker's CPU per
 * such task, and the hub read two `state` frames per task). Whoever is about to step the machine on
 * anything else calls {@link WorkLoad.settle} first, so the machine decides on the true count (a STOP
 * while a task runs waits for it, as before); only the management view lags, by one turn at most.
 *
 * Capacities are per kind because the hub hands out each kind against its own announced number
 * (`hello.capacity` for jobs, `subscribe.taskCapacity` for tasks); action handlers have none (the
 * broadcast bus bounds them). `hasRoom(kind)` is the check before taking a unit.
 */

/** What occupies a worker. */
export type WorkKind = 'job' | 'task' | 'action';

/** Counts held units per kind and reports zero crossings of their total, at the end of the turn. */
export class WorkLoad {
  private readonly held: Record<WorkKind, number> = { job: 0, task: 0, action: 0 };
  private total = 0;
  /** Whether the last report said the total is above zero. */
  private reportedBusy = false;
  private settleScheduled = false;

  /**
   * @param capacities most units of a kind held at once (a kind left out is unbounded)
   * @param report told the total when it left zero, or 0 when it reached zero (once per change, see {@link settle})
   * @param defer runs the end-of-turn check. @default setImmediate
   */
  constructor(
    private readonly capacities: Partial<Record<WorkKind, number>>,
    private readonly report: (running: number) => void,
    private readonly defer: (fn: () => void) => void = setImmediate,
  ) {}

  /** Counts one unit of `kind` as held; the returned function releases it (once; later calls do nothing). */
  take(kind: WorkKind): () => void {
    this.held[kind] += 1;
    this.total += 1;
    if (this.total === 1) this.crossed();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held[kind] -= 1;
      this.total -= 1;
      if (this.total === 0) this.crossed();
    };
  }

  /**
   * Reports now a zero crossing not reported yet, if the total is still on the other side; nothing when
   * it went back (taken and released since the last report). Call before stepping the machine on
   * anything else; the end of the turn calls it too.
   */
  settle(): void {
    const busy = this.total > 0;
    if (busy === this.reportedBusy) return;
    this.reportedBusy = busy;
    this.report(this.total);
  }

  /** Whether one more unit of `kind` fits its capacity. */
  hasRoom(kind: WorkKind): boolean {
    const capacity = this.capacities[kind];
    return capacity === undefined || this.held[kind] < capacity;
  }

  /** Units of `kind` held now, or of every kind. */
  running(kind?: WorkKind): number {
    return kind === undefined ? this.total : this.held[kind];
  }

  private crossed(): void {
    if (this.settleScheduled) return;
    this.settleScheduled = true;
    this.defer(this.settleLater);
  }

  private readonly settleLater = (): void => {
    this.settleScheduled = false;
    this.settle();
  };
}
