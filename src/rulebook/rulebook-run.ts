/**
 * Runs a checked rulebook step by step over anything that runs jobs ({@link JobRunner}: `AdminClient`
 * for the CLI, `hubJobRunner(hub)` inside a hub). Variables flow between steps:
 *
 * - the scope starts as the rulebook's `vars` with the `--var` overrides on top, plus `steps` (empty);
 * - after each step, `steps.NAME` holds its `status` (`ok`, `failed`, `skipped`), `worker` and result
 *   fields, and `register: VAR` stores its result in `VAR`: shell `{rc, stdout, stderr, stdout_lines,
 *   stderr_lines, worker}`, eval the returned value, ship/fetch `{bytes, sha256, worker, path, local}`;
 * - a step whose `when:` is false is skipped (`steps.NAME.status` is `skipped`, its `register` unset).
 *
 * The first failing step stops the run, unless it has `ignore_errors: true` (its result is registered and
 * the run goes on). A lost hub connection stops the run whatever `ignore_errors` says. Progress is
 * reported through `onEvent`; failures are data in the returned {@link RulebookOutcome}.
 */
import { systemClock, type Clock } from '../clock.ts';
import { ClaError, ErrorCode } from '../errors.ts';
import type { JobRunner } from '../hub/transfer.ts';
import type { Target } from '../protocol/frames.ts';
import { evaluateCondition, interpolate, interpolateDeep, type OnUndefined, type Scope } from './interpolate.ts';
import { checkReferences } from './rulebook-parse.ts';
import { STEPS_VAR, type Rulebook, type Step, type WorkerSelector } from './rulebook-schema.ts';
import { runStep, type OutputStream, type StepOutcome } from './rulebook-steps.ts';

/** Options of {@link runRulebook}. */
export interface RunRulebookOptions {
  runner: JobRunner;
  /** Variables set over the rulebook's `vars` (`--var key=value`). @default {} */
  overrides?: Record<string, unknown>;
  /** How long each step waits for a busy worker, in ms. @default the runner's (60 s) */
  waitMs?: number;
  /** Cancels the running step's job and stops the run. */
  signal?: AbortSignal;
  clock?: Clock;
  /** Output lines kept for the failure report. @default 20 */
  tailLines?: number;
  /** Most characters of stdout and of stderr a shell step keeps for `register`. @default 1048576 */
  maxCaptureChars?: number;
  onEvent?: (event: RulebookEvent) => void;
}

/** Progress of a run, in order: per step `step-start`, `dispatched`, `line`s, `step-end`, or `step-skip`. */
export type RulebookEvent =
  | { type: 'step-start'; step: Step; resolved: Step; target: Target }
  | { type: 'step-skip'; step: Step; reason: string }
  | { type: 'dispatched'; step: Step; worker: string }
  | { type: 'line'; step: Step; worker: string; stream: OutputStream; text: string }
  | { type: 'step-end'; step: Step; result: StepResult };

/** How one step ended. */
export interface StepResult {
  status: 'ok' | 'failed';
  worker?: string;
  durationMs: number;
  /** Failed, but `ignore_errors: true`. */
  ignored: boolean;
  outcome: StepOutcome;
}

/** Why a run stopped: the step, the worker, the exit code or error, the last lines. */
export interface StepFailure {
  step: Step;
  /** The step as it ran, variables filled in (the original when they could not be). */
  resolved: Step;
  target: Target | undefined;
  /** The worker that ran it; undefined when no worker took it. */
  worker?: string;
  exitCode?: number | null;
  signal?: string | null;
  timedOut?: boolean;
  error?: { code: string; message: string; stack?: string };
  /** The last `tailLines` output lines, stdout and stderr interleaved as they came. */
  tail: Array<{ stream: OutputStream; text: string }>;
  /** The hub connection failed: the rulebook could not go on (exit 125 in the CLI). */
  hubError: boolean;
}

/** The end of a run. */
export interface RulebookOutcome {
  ok: boolean;
  /** Set when a step stopped the run. */
  failure?: StepFailure;
  /** Steps that ran (skipped ones are counted in `skipped`). */
  ran: number;
  skipped: number;
  /** Failed steps whose failure `ignore_errors` let pass. */
  ignored: number;
  durationMs: number;
  /** The variables at the end. */
  scope: Scope;
}

/** Errors after which no step can run: the connection to the hub is gone or was refused. */
const HUB_ERROR_CODES: ReadonlySet<string> = new Set([ErrorCode.ConnectionFailed, ErrorCode.BadAdminToken, ErrorCode.ProtocolVersion]);

/** The variables a run starts with: `vars`, then `overrides`, then an empty `steps`. */
export function initialScope(rulebook: Rulebook, overrides: Record<string, unknown> = {}): Scope {
  return { ...rulebook.vars, ...overrides, [STEPS_VAR]: {} };
}

/**
 * Fills the variables into a step's worker, command, cwd, env and paths (eval code stays as written).
 * With `keep`, an undefined variable stays as `{{ name }}` (for plans).
 */
export function resolveStep<S extends Step>(step: S, scope: Scope, onUndefined: OnUndefined = 'throw'): S {
  const worker: WorkerSelector = interpolateDeep(step.worker, scope, onUndefined);
  const fill = (text: string) => interpolate(text, scope, onUndefined);
  switch (step.verb) {
    case 'shell':
      return {
        ...step,
        worker,
        cmd: interpolateDeep(step.cmd, scope, onUndefined),
        ...(step.cwd === undefined ? {} : { cwd: fill(step.cwd) }),
        ...(step.env === undefined ? {} : { env: interpolateDeep(step.env, scope, onUndefined) }),
      };
    case 'ship':
    case 'fetch':
      return { ...step, worker, from: fill(step.from), to: fill(step.to) };
    case 'eval':
      return { ...step, worker };
  }
}

/** The hub's target for a worker selector. */
export function targetOf(worker: WorkerSelector): Target {
  return {
    ...(worker.id === undefined ? {} : { worker: worker.id }),
    ...(worker.tags === undefined ? {} : { tags: worker.tags }),
    ...(worker.env === undefined ? {} : { env: worker.env }),
    ...(worker.project === undefined ? {} : { project: worker.project }),
  };
}

/** Runs the steps in order; throws only a RulebookError for a `{{ name }}` that is never defined. */
export async function runRulebook(rulebook: Rulebook, options: RunRulebookOptions): Promise<RulebookOutcome> {
  const clock = options.clock ?? systemClock;
  const emit = options.onEvent ?? (() => undefined);
  const tailLines = options.tailLines ?? 20;
  const scope = initialScope(rulebook, options.overrides);
  checkReferences(rulebook, scope);
  const steps = scope[STEPS_VAR] as Record<string, unknown>;
  const startedAt = clock.now();
  let ran = 0;
  let skipped = 0;
  let ignored = 0;
  const end = (failure?: StepFailure): RulebookOutcome => ({
    ok: failure === undefined,
    ...(failure ? { failure } : {}),
    ran,
    skipped,
    ignored,
    durationMs: clock.now() - startedAt,
    scope,
  });

  for (const step of rulebook.steps) {
    if (options.signal?.aborted) {
      return end({ step, resolved: step, target: undefined, error: { code: ErrorCode.Cancelled, message: 'Cancelled before this step started' }, tail: [], hubError: false });
    }
    if (step.when && !evaluateCondition(step.when, scope)) {
      skipped += 1;
      steps[step.name] = { status: 'skipped' };
      emit({ type: 'step-skip', step, reason: `\`when: ${step.when.source}\` is false` });
      continue;
    }
    ran += 1;
    const tail: StepFailure['tail'] = [];
    let resolved: Step;
    try {
      resolved = resolveStep(step, scope);
    } catch (error) {
      // A variable registered by a step that was skipped: a failure of this step, reported like one.
      const err = error as ClaError;
      const outcome: StepOutcome = { ok: false, value: undefined, fields: { error: { code: err.code, message: err.message } }, error: { code: err.code, message: err.message } };
      const failure = finish(step, step, undefined, outcome, 0, tail);
      if (failure) return end(failure);
      continue;
    }
    const target = targetOf(resolved.worker);
    emit({ type: 'step-start', step, resolved, target });
    const stepStart = clock.now();
    let worker = '';
    const outcome = await runStep(resolved, {
      runner: options.runner,
      target,
      dir: rulebook.dir,
      scope,
      ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
      ...(options.signal ? { signal: options.signal } : {}),
      maxCaptureChars: options.maxCaptureChars ?? 1024 * 1024,
      onDispatched: (w) => {
        worker = w;
        emit({ type: 'dispatched', step, worker: w });
      },
      onLine: (stream, text) => {
        tail.push({ stream, text });
        if (tail.length > tailLines) tail.shift();
        emit({ type: 'line', step, worker, stream, text });
      },
    });
    const failure = finish(step, resolved, target, outcome, clock.now() - stepStart, tail);
    if (failure) return end(failure);
  }
  return end();

  /** Records a step's end; returns the failure that stops the run, if it does. */
  function finish(step: Step, resolved: Step, target: Target | undefined, outcome: StepOutcome, durationMs: number, tail: StepFailure['tail']): StepFailure | undefined {
    steps[step.name] = { status: outcome.ok ? 'ok' : 'failed', worker: outcome.worker ?? null, ...outcome.fields };
    if (step.register !== undefined) scope[step.register] = outcome.value;
    const hubError = outcome.error !== undefined && HUB_ERROR_CODES.has(outcome.error.code);
    const cancelled = options.signal?.aborted === true;
    const ignoredNow = !outcome.ok && step.ignoreErrors && !hubError && !cancelled;
    if (ignoredNow) ignored += 1;
    emit({
      type: 'step-end',
      step,
      result: { status: outcome.ok ? 'ok' : 'failed', ...(outcome.worker === undefined ? {} : { worker: outcome.worker }), durationMs, ignored: ignoredNow, outcome },
    });
    if (outcome.ok || ignoredNow) return undefined;
    return {
      step,
      resolved,
      target,
      ...(outcome.worker === undefined ? {} : { worker: outcome.worker }),
      ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
      ...(outcome.signal === undefined ? {} : { signal: outcome.signal }),
      ...(outcome.timedOut === undefined ? {} : { timedOut: outcome.timedOut }),
      ...(outcome.error ? { error: outcome.error } : {}),
      tail: [...tail],
      hubError,
    };
  }
}
