/**
 * Time is injected, never read directly (../shared/STYLE.md): production code takes a {@link Clock},
 * tests pass xstate's `SimulatedClock` or {@link ManualClock}.
 */

/** The subset of a clock that this project needs; xstate's `SimulatedClock` satisfies it. */
export interface Clock {
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The wall clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, timeout) => setTimeout(fn, timeout),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};
