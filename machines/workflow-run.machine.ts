/**
 * One run of a workflow on the hub: its steps one after another (collect -> plan_cleanup -> cleanup),
 * each a workflow step machine (workflow-step.machine.ts) that the runtime starts on `startStep` and
 * reports back with STEP_DONE.
 *
 * Pure definition (see ../shared/STYLE.md, "machines/"): side effects are no-op placeholders that the
 * hub runtime (src/hub/actions/workflow-run-runtime.ts) replaces with `provide({ actions })`. The run
 * has no timer of its own (each step has its deadline), so a restored snapshot needs nothing re-armed;
 * restored in `running`, its entry action does not run again and the runtime restores the step as well.
 *
 * A run starts in `pending`: the engine sends START at once, or later for a run that waits for an
 * earlier run of the same workflow (`on_conflict: wait`), or SKIP (`on_conflict: skip`).
 */
import { assign, setup } from 'xstate';

/** What a step does when it fails or times out. */
export type OnError = 'continue' | 'stop';

/** How a finished step ended (the step machine's final state). */
export type StepResult = 'succeeded' | 'failed' | 'timedOut' | 'aborted';

export interface RunStep {
  name: string;
  action: string;
  onError: OnError;
}

/** What the runtime passes to `createActor(workflowRunMachine, { input })`. */
export interface WorkflowRunInput {
  runId: string;
  workflow: string;
  steps: RunStep[];
}

export interface WorkflowRunContext {
  runId: string;
  workflow: string;
  steps: RunStep[];
  /** The step running now (or the last one run). */
  index: number;
  /** How each finished step ended, by position. */
  results: StepResult[];
  /** Why the run was aborted or skipped. */
  reason: string | null;
}

export type WorkflowRunEvent =
  | { type: 'START' }
  | { type: 'SKIP'; reason: string }
  | { type: 'STEP_DONE'; index: number; result: StepResult }
  | { type: 'ABORT'; reason: string };

/** Builds the initial context from input; named so the config stays JSON-like. */
export function workflowRunContextFromInput({ input }: { input: WorkflowRunInput }): WorkflowRunContext {
  return { runId: input.runId, workflow: input.workflow, steps: input.steps, index: 0, results: [], reason: null };
}

const isCurrent = (context: WorkflowRunContext, event: WorkflowRunEvent): event is Extract<WorkflowRunEvent, { type: 'STEP_DONE' }> =>
  event.type === 'STEP_DONE' && event.index === context.index && context.results.length === context.index;

export const workflowRunMachine = setup({
  types: {
    context: {} as WorkflowRunContext,
    events: {} as WorkflowRunEvent,
    input: {} as WorkflowRunInput,
  },
  actions: {
    // --- context updates (pure) ---
    recordResult: assign(({ context, event }) => (isCurrent(context, event) ? { results: [...context.results, event.result] } : {})),
    nextStep: assign(({ context }) => ({ index: context.index + 1 })),
    recordReason: assign(({ event }) => (event.type === 'ABORT' || event.type === 'SKIP' ? { reason: event.reason } : {})),

    // --- side effects: placeholders the runtime must provide ---
    /** Runtime: create, store and start the step machine for `context.steps[context.index]`. */
    startStep: () => {},
    /** Runtime: send ABORT with the event's reason to the running step (it tells its pending subscribers). */
    abortStep: () => {},
    /** Runtime: store the end of the run and start the next run waiting for this workflow, if any. */
    runFinished: () => {},
  },
  guards: {
    /** The current step failed or timed out and its `onError` is `stop`. */
    stepStopsRun: ({ context, event }) =>
      isCurrent(context, event) &&
      (event.result === 'failed' || event.result === 'timedOut' || event.result === 'aborted') &&
      (event.result === 'aborted' || context.steps[context.index]?.onError !== 'continue'),
    /** The current step ended and it was the last one. */
    lastStepDone: ({ context, event }) => isCurrent(context, event) && context.index >= context.steps.length - 1,
    isCurrentStep: ({ context, event }) => isCurrent(context, event),
    /** Every step has run (after recordResult) and at least one failed or timed out. */
    anyStepFailed: ({ context }) => context.results.some((r) => r !== 'succeeded'),
    hasNoSteps: ({ context }) => context.steps.length === 0,
  },
}).createMachine({
  id: 'workflowRun',
  description: 'One run of a workflow: its steps in order, each broadcast to the subscribers of its action.',
  context: workflowRunContextFromInput,
  initial: 'pending',
  states: {
    pending: {
      description: 'Created; waiting for START (at once, or after an earlier run of the same workflow).',
      on: {
        START: [{ guard: 'hasNoSteps', target: 'succeeded' }, { target: 'running' }],
        SKIP: { target: 'skipped', actions: 'recordReason' },
        ABORT: { target: 'aborted', actions: 'recordReason' },
      },
    },
    running: {
      entry: 'startStep',
      on: {
        STEP_DONE: [
          { guard: 'stepStopsRun', target: 'failed', actions: 'recordResult' },
          { guard: 'lastStepDone', target: 'ending', actions: 'recordResult' },
          { guard: 'isCurrentStep', target: 'running', reenter: true, actions: ['recordResult', 'nextStep'] },
        ],
        ABORT: { target: 'aborted', actions: ['recordReason', 'abortStep'] },
      },
    },
    ending: {
      always: [{ guard: 'anyStepFailed', target: 'failed' }, { target: 'succeeded' }],
    },
    succeeded: { type: 'final', entry: 'runFinished', description: 'Every step succeeded.' },
    failed: {
      type: 'final',
      entry: 'runFinished',
      description: 'A step failed and stopped the run, or every step ran and some failed (on_error: continue).',
    },
    aborted: { type: 'final', entry: 'runFinished' },
    skipped: { type: 'final', entry: 'runFinished', description: 'Not run: another run of the workflow was active (on_conflict: skip).' },
  },
});
