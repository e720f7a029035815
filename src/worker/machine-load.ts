/**
 * Hands the worker's load (work-load.ts: `LOAD { running }` at each zero crossing) to the worker machine,
 * and steps the machine only when it has something to decide (issue 13).
 *
 * An exec job crosses zero twice (busy at its start, idle at its end), so the machine took two `LOAD`
 * steps per job. Right after the job's fork a step costs 100-130 us of CPU (xstate's transition touches
 * memory the fork left cold; 9-18 us when warm), and in the compiled worker the two steps were ~0.6 ms of
 * its ~3.5 ms CPU per exec round trip (bench/RESULTS.md, "exec round trip overhead (branch exec5)").
 *
 * In `connected`, a `LOAD` only moves the machine between `connected.idle` and `connected.busy`, and where
 * it goes depends only on the state it is in and on whether `running` is zero (the machine's `isWorking`
 * and `isIdle` guards; test/unit/machine-load.test.ts holds the machine to that). So each such step is
 * learned from the machine itself, the first time it is taken for real: from state S, with the load on
 * one side of zero, the machine went to T and ran no effect. The next time the same step is due, the
 * new state is taken as T at once (the `state` frame and `onState` listeners get it now) and the `LOAD`
 * waits: the machine receives it before it is stepped on anything else or its state is read
 * ({@link MachineLoad.deliver}), so it never decides on a stale count. A `LOAD` that would leave the
 * machine where it is (busy and back to idle between two other events) is not sent at all. Any step that
 * was not learned, left `connected` or ran an effect (`stopping` ending at zero load) is sent at once.
 */
import type { Actor, StateValue } from 'xstate';
import type { workerMachine } from '../../machines/worker.machine.ts';

/** The machine's state value and its dotted name (`connected.busy`). */
interface Known {
  value: StateValue;
  name: string;
}

/** Sends the load to the worker machine; see the file comment. */
export class MachineLoad {
  /** Steps learned from the machine: `${state name}|${busy}` -> the state it went to. */
  private readonly learned = new Map<string, Known>();
  /** The count the machine has not been told yet, while its state is taken from {@link learned}. */
  private pending: number | undefined;
  /** The state the machine is in once it has the pending count. */
  private ahead: Known | undefined;

  /**
   * @param actor the worker machine, started
   * @param effects how many effects (provided actions) the machine has run so far
   * @param changed told the new state when a learned step is taken without the machine
   * @param nameOf a state value's dotted name
   */
  constructor(
    private readonly actor: Actor<typeof workerMachine>,
    private readonly effects: () => number,
    private readonly changed: (value: StateValue) => void,
    private readonly nameOf: (value: StateValue) => string,
  ) {}

  /** The load left or reached zero: `running` units are held now. */
  report(running: number): void {
    const busy = running > 0;
    const from = this.ahead?.name ?? this.nameOf(this.actor.getSnapshot().value);
    const known = this.learned.get(`${from}|${busy}`);
    if (known !== undefined) {
      this.pending = running;
      this.ahead = known;
      this.changed(known.value);
      return;
    }
    this.deliver();
    const before = this.actor.getSnapshot();
    const effects = this.effects();
    this.actor.send({ type: 'LOAD', running });
    const after = this.actor.getSnapshot();
    if (before.status === 'active' && after.status === 'active' && before.matches('connected') && after.matches('connected') && this.effects() === effects) {
      this.learned.set(`${this.nameOf(before.value)}|${busy}`, { value: after.value, name: this.nameOf(after.value) });
    }
  }

  /** Gives the machine the count it has not had yet; call before stepping it on anything else or reading it. */
  deliver(): void {
    const running = this.pending;
    if (running === undefined) return;
    this.pending = undefined;
    this.ahead = undefined;
    // The machine settles on its count after every step: told the count it holds, it would not move.
    if (running !== this.actor.getSnapshot().context.running) this.actor.send({ type: 'LOAD', running });
  }
}
