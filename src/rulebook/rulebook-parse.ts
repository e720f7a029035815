/**
 * YAML text -> checked {@link Rulebook}. The whole file is checked before anything runs, and every mistake
 * found is reported at once, each naming the file, the step and the key:
 *
 * ```
 * rulebook.yml: do[2] (build): `shell.cmd` is required
 * rulebook.yml: do[3]: `ship.mode` must be octal permissions such as '0644' or '0755', got `999` (string)
 * ```
 *
 * {@link checkReferences} then checks, once `--var` overrides are known, that every `{{ name }}` names a
 * variable defined before its step, so a typo fails before the first step runs instead of after the
 * slow ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { describeValue, InvalidArgumentError } from '../errors.ts';
import { parseDuration } from '../hub/actions/workflow-definitions.ts';
import { parseCondition, templatePaths, type Scope } from './interpolate.ts';
import {
  rulebookTopSchema,
  STEP_KEYS,
  STEPS_VAR,
  stepSchema,
  VERBS,
  type Rulebook,
  type Step,
  type StepCommon,
  type Verb,
  type WorkerSelector,
} from './rulebook-schema.ts';

/** One mistake in a rulebook. */
export interface RulebookProblem {
  /** `do[2] (build)`, `do`, or empty for the top level. */
  where: string;
  /** The key within the step or file (`shell.cmd`), or empty for the whole step or file. */
  key: string;
  /** The full line: `rulebook.yml: do[2] (build): \`shell.cmd\` is required`. */
  message: string;
}

/** An invalid rulebook: `message` has one line per problem; `problems` has them apart. */
export class RulebookError extends InvalidArgumentError {
  constructor(
    readonly file: string,
    readonly problems: RulebookProblem[],
  ) {
    super(problems.map((p) => p.message).join('\n'), { data: { file, problems: problems.map(({ where, key }) => ({ where, key })) } });
    this.name = 'RulebookError';
  }
}

/** Options of {@link parseRulebook}. */
export interface ParseRulebookOptions {
  /** The file name used in messages. */
  file: string;
  /** Folder that relative local paths (`ship.from`, `fetch.to`, `eval.file`) start from. @default dirname(file) */
  dir?: string;
  /** Reads an `eval.file` (absolute path). @default fs.readFileSync(path, 'utf8') */
  readFile?: (absolutePath: string) => string;
}

/** Reads and checks a rulebook file. */
export function loadRulebook(file: string): Rulebook {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const problem = `cannot be read: ${(error as Error).message}`;
    throw new RulebookError(file, [{ where: '', key: '', message: `${file}: ${problem}` }]);
  }
  return parseRulebook(text, { file });
}

/** Checks the text of a rulebook; throws {@link RulebookError} listing every problem. */
export function parseRulebook(text: string, options: ParseRulebookOptions): Rulebook {
  const { file } = options;
  const dir = path.resolve(options.dir ?? path.dirname(file));
  const problems = new Problems(file);
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    problems.add('', '', `is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
    throw problems.error();
  }
  if (!isRecord(raw)) {
    problems.add('', '', `must hold a mapping with \`do:\` (a list of steps), got ${describeValue(raw)}`);
    throw problems.error();
  }
  const top = rulebookTopSchema.safeParse(raw, { reportInput: true });
  if (!top.success) problems.addIssues('', raw, top.error.issues);
  else if (raw.vars && Object.hasOwn(raw.vars, STEPS_VAR)) problems.add('', `vars.${STEPS_VAR}`, "is reserved: it holds every step's result by name");

  let rawSteps: unknown[] = [];
  let single = false;
  if (raw.do === undefined) problems.add('', 'do', 'is required: a list of steps, each a mapping such as `shell: { worker: { tags: [java] }, cmd: make }`');
  else if (isRecord(raw.do)) {
    // The seed's form: `do: { shell: {...} }` is a rulebook of one step.
    rawSteps = [raw.do];
    single = true;
  } else if (Array.isArray(raw.do) && raw.do.length > 0) rawSteps = raw.do;
  else problems.add('', 'do', `must be a non-empty list of steps (or one step as a mapping), got ${describeValue(raw.do)}`);

  const readFile = options.readFile ?? ((p: string) => fs.readFileSync(p, 'utf8'));
  const steps: Step[] = [];
  rawSteps.forEach((rawStep, index) => {
    const step = parseStep(rawStep, index, single ? 'do' : `do[${index}]`, problems, dir, readFile);
    if (step) steps.push(step);
  });
  const seen = new Map<string, Step>();
  for (const step of steps) {
    const earlier = seen.get(step.name);
    if (earlier) problems.add(where(step.label, step.name), 'name', `repeats the name of ${earlier.label}: step names must be unique`);
    seen.set(step.name, step);
  }
  if (problems.list.length > 0) throw problems.error();
  const top2 = raw as { name?: string; description?: string; vars?: Record<string, unknown> };
  return {
    file,
    dir,
    ...(top2.name === undefined ? {} : { name: top2.name }),
    ...(top2.description === undefined ? {} : { description: top2.description }),
    vars: { ...(top2.vars ?? {}) },
    steps,
  };
}

function parseStep(raw: unknown, index: number, label: string, problems: Problems, dir: string, readFile: (p: string) => string): Step | undefined {
  if (!isRecord(raw)) {
    problems.add(label, '', `must be a mapping with one of ${VERBS.map((v) => `\`${v}\``).join(', ')}, got ${describeValue(raw)}`);
    return undefined;
  }
  const at = where(label, typeof raw.name === 'string' ? raw.name : undefined);
  const verbs = VERBS.filter((verb) => Object.hasOwn(raw, verb));
  if (verbs.length !== 1) {
    const others = Object.keys(raw).filter((k) => !(STEP_KEYS as readonly string[]).includes(k));
    problems.add(
      at,
      '',
      verbs.length === 0
        ? `needs one of ${VERBS.map((v) => `\`${v}\``).join(', ')}${others.length ? ` (found ${others.map((k) => `\`${k}\``).join(', ')})` : ''}`
        : `has ${verbs.map((v) => `\`${v}\``).join(' and ')}: a step does one thing; make it ${verbs.length} steps`,
    );
    return undefined;
  }
  const verb = verbs[0]!;
  const checked = stepSchema(verb).safeParse(raw, { reportInput: true });
  if (!checked.success) {
    problems.addIssues(at, raw, checked.error.issues);
    return undefined;
  }
  const body = raw[verb] as Record<string, unknown>;
  const before = problems.list.length;
  const when = raw.when === undefined ? undefined : parseCondition(raw.when as string | boolean);
  if (when === null) {
    problems.add(at, 'when', `must be a condition such as \`build.rc == 0\`, \`deploy\` or \`not skip_tests\`, got ${describeValue(raw.when)}`);
  }
  const common: StepCommon = {
    index,
    label,
    name: typeof raw.name === 'string' ? raw.name : `${verb}-${index + 1}`,
    ...(raw.register === undefined ? {} : { register: raw.register as string }),
    ...(when ? { when } : {}),
    ignoreErrors: raw.ignore_errors === true,
    worker: workerSelector(body.worker),
  };
  const timeoutMs = (): number | undefined => {
    if (body.timeout === undefined) return undefined;
    const ms = parseDuration(body.timeout);
    if (ms === null) problems.add(at, `${verb}.timeout`, `must be a number of seconds or a duration such as \`30s\`, \`10m\`, \`1h\`, got ${describeValue(body.timeout)}`);
    return ms ?? undefined;
  };
  let step: Step;
  switch (verb) {
    case 'shell': {
      const env = body.env as Record<string, string | number | boolean> | undefined;
      const timeout = timeoutMs();
      step = {
        ...common,
        verb,
        cmd: body.cmd as string | string[],
        ...(body.cwd === undefined ? {} : { cwd: body.cwd as string }),
        ...(env === undefined ? {} : { env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) }),
        ...(timeout === undefined ? {} : { timeoutMs: timeout }),
      };
      break;
    }
    case 'ship':
      step = {
        ...common,
        verb,
        from: body.from as string,
        to: body.to as string,
        ...(body.mode === undefined ? {} : { mode: parseInt((body.mode as string).replace(/^0o/i, ''), 8) }),
      };
      break;
    case 'fetch':
      step = { ...common, verb, from: body.from as string, to: body.to as string };
      break;
    case 'eval': {
      const timeout = timeoutMs();
      const code = evalCode(body, at, problems, dir, readFile);
      step = { ...common, verb, code: code ?? '', ...(body.file === undefined ? {} : { file: body.file as string }), ...(timeout === undefined ? {} : { timeoutMs: timeout }) };
      break;
    }
  }
  return problems.list.length === before ? step : undefined;
}

function evalCode(body: Record<string, unknown>, at: string, problems: Problems, dir: string, readFile: (p: string) => string): string | undefined {
  if ((body.code === undefined) === (body.file === undefined)) {
    problems.add(at, body.code === undefined ? 'eval.code' : 'eval', body.code === undefined ? 'is required (or `eval.file`)' : 'has both `code` and `file`: give one of them');
    return undefined;
  }
  if (typeof body.code === 'string') return body.code;
  const file = path.resolve(dir, body.file as string);
  try {
    const code = readFile(file);
    if (code.trim() === '') problems.add(at, 'eval.file', `is empty: ${file}`);
    return code;
  } catch (error) {
    problems.add(at, 'eval.file', `cannot be read: ${(error as Error).message}`);
    return undefined;
  }
}

/** `worker:` as checked by the schema -> a selector (tags as a list). */
function workerSelector(raw: unknown): WorkerSelector {
  if (raw === undefined) return {};
  if (typeof raw === 'string') return { id: raw };
  const w = raw as { id?: string; tags?: string | string[]; env?: string; project?: string };
  const tags = typeof w.tags === 'string' ? w.tags.split(',').map((t) => t.trim()).filter(Boolean) : w.tags;
  return {
    ...(w.id === undefined ? {} : { id: w.id }),
    ...(tags === undefined ? {} : { tags }),
    ...(w.env === undefined ? {} : { env: w.env }),
    ...(w.project === undefined ? {} : { project: w.project }),
  };
}

/**
 * Checks that every `{{ path }}` and `when:` names a variable of `scope` (the rulebook's vars with `--var`
 * applied), a variable registered by an earlier step, or `steps.NAME` of an earlier step. Throws
 * {@link RulebookError} with every unknown name.
 */
export function checkReferences(rulebook: Rulebook, scope: Scope): void {
  const problems = new Problems(rulebook.file);
  const known = new Set(Object.keys(scope));
  const earlierSteps = new Set<string>();
  for (const step of rulebook.steps) {
    const at = where(step.label, step.name);
    const check = (key: string, paths: string[]) => {
      for (const p of paths) {
        const [root, second] = p.split('.');
        if (root === STEPS_VAR) {
          if (second !== undefined && !earlierSteps.has(second)) {
            problems.add(at, key, `uses \`${p}\`, but no step named \`${second}\` runs before this one${earlierSteps.size ? ` (earlier steps: ${[...earlierSteps].join(', ')})` : ''}`);
          }
        } else if (!known.has(root!)) {
          const defined = [...new Set([...known, STEPS_VAR])].sort();
          problems.add(at, key, `uses \`${p}\`, but \`${root}\` is not defined before this step (defined: ${defined.join(', ')}; pass --var ${root}=VALUE?)`);
        }
      }
    };
    for (const [key, value] of stepStrings(step)) check(key, templatePaths(value));
    if (step.when?.kind === 'test') check('when', [step.when.path]);
    earlierSteps.add(step.name);
    if (step.register !== undefined) known.add(step.register);
  }
  if (problems.list.length > 0) throw problems.error();
}

/** Every interpolated string of a step, with its key (`shell.cmd[1]`). */
export function stepStrings(step: Step): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const w = step.worker;
  const verb: Verb = step.verb;
  if (w.id !== undefined) out.push([`${verb}.worker.id`, w.id]);
  w.tags?.forEach((tag, i) => out.push([`${verb}.worker.tags[${i}]`, tag]));
  if (w.env !== undefined) out.push([`${verb}.worker.env`, w.env]);
  if (w.project !== undefined) out.push([`${verb}.worker.project`, w.project]);
  switch (step.verb) {
    case 'shell':
      if (typeof step.cmd === 'string') out.push(['shell.cmd', step.cmd]);
      else step.cmd.forEach((arg, i) => out.push([`shell.cmd[${i}]`, arg]));
      if (step.cwd !== undefined) out.push(['shell.cwd', step.cwd]);
      for (const [k, v] of Object.entries(step.env ?? {})) out.push([`shell.env.${k}`, v]);
      break;
    case 'ship':
    case 'fetch':
      out.push([`${step.verb}.from`, step.from], [`${step.verb}.to`, step.to]);
      break;
    case 'eval':
      break;
  }
  return out;
}

/** `do[2] (build)`: a step's place and name as messages show it. */
export function where(label: string, name: string | undefined): string {
  return name === undefined ? label : `${label} (${name})`;
}

/** Collects problems and turns zod issues into them. */
class Problems {
  readonly list: RulebookProblem[] = [];

  constructor(private readonly file: string) {}

  add(at: string, key: string, problem: string): void {
    const parts = [this.file, at, key ? `\`${key}\` ${problem}` : problem].filter((p) => p !== '');
    this.list.push({ where: at, key, message: parts.join(': ') });
  }

  /** One problem per issue (per key for unknown keys); a missing key is "is required". */
  addIssues(at: string, input: unknown, issues: z.core.$ZodIssue[]): void {
    for (const issue of issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) this.add(at, keyString([...issue.path, key]), issue.message);
        continue;
      }
      const value = valueAt(input, issue.path);
      const key = keyString(issue.path);
      const problem = issue.code === 'invalid_key' ? issue.message : value === undefined ? 'is required' : `${issue.message}, got ${describeValue(value)}`;
      this.add(at, key, problem);
    }
  }

  error(): RulebookError {
    return new RulebookError(this.file, this.list);
  }
}

function keyString(parts: readonly PropertyKey[]): string {
  return parts.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)), '');
}

function valueAt(input: unknown, parts: readonly PropertyKey[]): unknown {
  let value = input;
  for (const part of parts) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
