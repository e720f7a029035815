/** Rulebooks: YAML lists of shell, ship, fetch and eval steps run on workers (see README, "Rulebooks"). */
export { evaluateCondition, interpolate, isTruthy, lookup, parseCondition, renderValue, templatePaths } from './interpolate.ts';
export { checkReferences, loadRulebook, parseRulebook, RulebookError } from './rulebook-parse.ts';
export { describeTarget, formatFailure, formatLine, formatPlan, formatSkip, formatStepEnd, formatStepStart, formatSummary } from './rulebook-report.ts';
export { initialScope, resolveStep, runRulebook, targetOf } from './rulebook-run.ts';
export { STEPS_VAR, VAR_NAME_RE, VERBS } from './rulebook-schema.ts';

export type { Condition, Scope } from './interpolate.ts';
export type { ParseRulebookOptions, RulebookProblem } from './rulebook-parse.ts';
export type { RulebookEvent, RulebookOutcome, RunRulebookOptions, StepFailure, StepResult } from './rulebook-run.ts';
export type { EvalStep, FetchStep, Rulebook, ShellStep, ShipStep, Step, Verb, WorkerSelector } from './rulebook-schema.ts';
export type { OutputStream, StepOutcome } from './rulebook-steps.ts';
