/**
 * What `cla-hub rulebook run` prints, as pure functions of the run's events (tests check them without
 * a terminal): step headers, output lines prefixed `[step@worker]`, the `--dry-run` plan and the failure
 * report.
 *
 * ```
 * ✖ rulebook.yml failed at do[2] (build) on worker java1: exit code 3
 *   step       do[2] (build) shell: javac MyClass.java
 *   worker     java1 (asked for tags=java)
 *   exit code  3
 *   output     last 2 lines:
 *     | compiling
 *     | MyClass.java:1: error: ...
 * ```
 */
import type { Target } from '../protocol/frames.ts';
import { renderValue, type Scope } from './interpolate.ts';
import { where } from './rulebook-parse.ts';
import { initialScope, resolveStep, targetOf, type RulebookOutcome, type StepFailure, type StepResult } from './rulebook-run.ts';
import { STEPS_VAR, type Rulebook, type Step } from './rulebook-schema.ts';

/** `tags=java`, `worker java1`, `env=QA, tags=a,b`, or `any worker`. */
export function describeTarget(target: Target): string {
  const parts: string[] = [];
  if (target.worker !== undefined) parts.push(`worker ${target.worker}`);
  if (target.tags !== undefined) parts.push(`tags=${target.tags.join(',')}`);
  if (target.env !== undefined) parts.push(`env=${target.env}`);
  if (target.project !== undefined) parts.push(`project=${target.project}`);
  return parts.length ? parts.join(', ') : 'any worker';
}

/**
 * What a step does, in one line: `shell: javac MyClass.java`, `ship: a.txt -> /tmp/a.txt`; a command or
 * code longer than `maxChars` is cut with `...`.
 */
export function describeAction(step: Step, maxChars = 100): string {
  switch (step.verb) {
    case 'shell':
      return `shell: ${oneLine(typeof step.cmd === 'string' ? step.cmd : step.cmd.map(quoteArg).join(' '), maxChars)}`;
    case 'ship':
      return `ship: ${step.from} -> ${step.to}${step.mode === undefined ? '' : ` (mode 0${step.mode.toString(8)})`}`;
    case 'fetch':
      return `fetch: ${step.from} -> ${step.to}`;
    case 'eval':
      return `eval: ${step.file ?? oneLine(step.code, maxChars)}`;
  }
}

/** `▶ do[0] (compile) shell: javac MyClass.java  [tags=java]` */
export function formatStepStart(resolved: Step, target: Target): string {
  return `▶ ${where(resolved.label, resolved.name)} ${describeAction(resolved)}  [${describeTarget(target)}]`;
}

/** `[compile@java1] text` */
export function formatLine(step: Step, worker: string, text: string): string {
  return `[${step.name}@${worker || '?'}] ${text}`;
}

/** `✔ do[0] (compile) ok on java1 in 0.52 s`, or the ignored failure's line. */
export function formatStepEnd(step: Step, result: StepResult): string {
  const at = where(step.label, step.name);
  const on = result.worker ? ` on ${result.worker}` : '';
  const seconds = `${(result.durationMs / 1000).toFixed(2)} s`;
  if (result.status === 'ok') {
    const { bytes, sha256 } = result.outcome.fields as { bytes?: unknown; sha256?: unknown };
    const moved = typeof bytes === 'number' && typeof sha256 === 'string' ? ` (${bytes} bytes, sha256 ${sha256.slice(0, 12)}...)` : '';
    return `✔ ${at} ok${on} in ${seconds}${moved}`;
  }
  const why = failureReason(result.outcome);
  return result.ignored ? `⚠ ${at} failed${on}: ${why} (ignored: ignore_errors)` : `✖ ${at} failed${on}: ${why}`;
}

/** `- do[2] (deploy) skipped: \`when: deploy\` is false` */
export function formatSkip(step: Step, reason: string): string {
  return `- ${where(step.label, step.name)} skipped: ${reason}`;
}

/** The last line of a successful run. */
export function formatSummary(rulebook: Rulebook, outcome: RulebookOutcome): string {
  const parts = [`${outcome.ran} step${outcome.ran === 1 ? '' : 's'} ran`];
  if (outcome.skipped) parts.push(`${outcome.skipped} skipped`);
  if (outcome.ignored) parts.push(`${outcome.ignored} failed but ignored`);
  return `✔ ${rulebook.file}: ${parts.join(', ')} in ${(outcome.durationMs / 1000).toFixed(2)} s`;
}

/** `exit code 3`, `killed by SIGKILL`, `TIMEOUT: Timed out after 5 s`, `NO_WORKER: ...`. */
function failureReason(outcome: { exitCode?: number | null; signal?: string | null; timedOut?: boolean; error?: { code: string; message: string } }): string {
  if (outcome.error) return `${outcome.error.code}: ${outcome.error.message}`;
  if (outcome.signal) return `killed by ${outcome.signal}`;
  return `exit code ${outcome.exitCode}`;
}

/** The report printed when a step stops the run. */
export function formatFailure(rulebook: Rulebook, failure: StepFailure): string[] {
  const { step, resolved } = failure;
  const at = where(step.label, step.name);
  const asked = failure.target ? describeTarget(failure.target) : describeTarget(targetOf(step.worker));
  const lines = [`✖ ${rulebook.file} failed at ${at}${failure.worker ? ` on worker ${failure.worker}` : ''}: ${failureReason(failure)}`];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(10)} ${value}`);
  row('step', `${at} ${describeAction(resolved, REPORT_ACTION_CHARS)}`);
  row('worker', failure.worker ? `${failure.worker} (asked for ${asked})` : `none took it (asked for ${asked})`);
  if (failure.exitCode !== undefined) row('exit code', failure.exitCode === null ? `none${failure.signal ? ` (killed by ${failure.signal})` : ''}` : String(failure.exitCode));
  if (failure.timedOut) row('timed out', 'yes');
  if (failure.error) row('error', `${failure.error.code}: ${failure.error.message}`);
  if (failure.error?.stack) {
    const stack = failure.error.stack.split('\n').slice(0, 6);
    lines.push('  stack', ...stack.map((s) => `    ${s}`));
  }
  if (failure.tail.length === 0) row('output', 'none');
  else {
    row('output', `last ${failure.tail.length} line${failure.tail.length === 1 ? '' : 's'}:`);
    for (const { stream, text } of failure.tail) lines.push(`    ${stream === 'stderr' ? '!' : '|'} ${text}`);
  }
  if (step.ignoreErrors && failure.hubError) lines.push('  (ignore_errors does not cover a lost hub connection)');
  return lines;
}

/**
 * The `--dry-run` plan: the variables, then each step with its worker, action, condition and register,
 * variables filled in where they are known before the run (registered results are shown as `{{ name }}`).
 */
export function formatPlan(rulebook: Rulebook, overrides: Record<string, unknown> = {}): string[] {
  const scope: Scope = initialScope(rulebook, overrides);
  const lines = [`ℹ ${rulebook.file}: ${rulebook.name ? `${rulebook.name}, ` : ''}${rulebook.steps.length} step${rulebook.steps.length === 1 ? '' : 's'} (dry run: nothing runs)`];
  const names = Object.keys(scope).filter((k) => k !== STEPS_VAR);
  if (names.length) {
    lines.push('  vars:');
    for (const name of names) lines.push(`    ${name} = ${oneLine(renderValue(scope[name]))}${Object.hasOwn(overrides, name) ? '  (--var)' : ''}`);
  }
  for (const step of rulebook.steps) {
    const resolved = resolveStep(step, scope, 'keep');
    const extras = [
      step.when ? `when: ${step.when.source}` : '',
      step.register ? `register: ${step.register}` : '',
      step.ignoreErrors ? 'ignore_errors' : '',
    ].filter(Boolean);
    lines.push(`  ${where(step.label, step.name)} ${describeAction(resolved)}  [${describeTarget(targetOf(resolved.worker))}]${extras.length ? `  (${extras.join('; ')})` : ''}`);
  }
  return lines;
}

/** The report shows more of the command than the step headers: it is what one reads to fix it. */
const REPORT_ACTION_CHARS = 500;

function oneLine(text: string, maxChars = 100): string {
  const first = text.trim().split('\n');
  const line = first[0]!.length > maxChars ? `${first[0]!.slice(0, maxChars)}...` : first[0]!;
  return first.length > 1 ? `${line} ... (${first.length} lines)` : line;
}

function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
