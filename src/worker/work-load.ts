/**
 * The worker's one capacity model (issue 9): everything that occupies the process is counted here —
 * jobs (exec, eval, ship, fetch, probe), tasks held (queued in the task p-queue or running) and action
 * handlers — and the worker machine hears about it through one event, `LOAD { running }`, sent only when
 * the total reaches or leaves zero (machines/worker.machine.ts says why). A burst of tasks is then two
 * lifecycle events and at most two `state` frames, whatever its size.
 *
 * Capacities are per kind because the hub hands out each kind against its own announced number
 * (`hello.capacity` for jobs, `subscribe.taskCapacity` for tasks); action handlers have none (the
 * broadcast bus bounds them). `hasRoom(kind)` is the check before taking a unit.
 */

/** What occupies a worker. */
export type WorkKind = 'job' | 'task' | 'action';

/** Counts held units per kind and reports zero crossings of their total. */
export class WorkLoad {
  private readonly held: Record<WorkKind, number> = { job: 0, task: 0, action: 0 };
  private total = 0;

  /**
   * @param capacities most units of a kind held at once (a kind left out is unbounded)
   * @param report told the new total when it reaches or leaves zero
   */
  constructor(
    private readonly capacities: Partial<Record<WorkKind, number>>,
    private readonly report: (running: number) => void,
  ) {}

  /** Counts one unit of `kind` as held; the returned function releases it (once; later calls do nothing). */
  take(kind: WorkKind): () => void {
    this.held[kind] += 1;
    this.total += 1;
    if (this.total === 1) this.report(1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held[kind] -= 1;
      this.total -= 1;
      if (this.total === 0) this.report(0);
    };
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
}
