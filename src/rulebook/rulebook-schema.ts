/**
 * The shape of a rulebook file, as zod schemas with messages written for people ("must be ..."), and the
 * checked model the runner works on. src/rulebook/rulebook-parse.ts turns YAML into that model and zod's
 * issues into `rulebook.yml: do[2] (build): \`shell.cmd\` is required`.
 *
 * ```yaml
 * name: build-and-ship            # optional
 * vars: { src: MyClass.java }     # optional initial variables (`--var key=value` overrides them)
 * do:
 *   - name: compile
 *     shell:
 *       worker: { tags: ['java'] }
 *       cmd: javac {{ src }}
 *     register: compiled
 *   - eval: { worker: { id: node1 }, code: "return vars.compiled.rc === 0" }
 * ```
 */
import { z } from 'zod';
import type { Condition } from './interpolate.ts';

/** The step kinds: the key that makes a mapping a step. */
export const VERBS = ['shell', 'ship', 'fetch', 'eval'] as const;
export type Verb = (typeof VERBS)[number];

/** Keys a step has besides its verb. */
export const STEP_KEYS = ['name', 'register', 'when', 'ignore_errors'] as const;

/** Variable names: what `register:`, `vars:` and `--var` may define. */
export const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
/** Step names: usable in `{{ steps.NAME.rc }}` and in output prefixes. */
export const STEP_NAME_RE = /^[A-Za-z0-9_-]{1,100}$/;
/** The variable that holds every step's result by name; not for `vars:` or `register:`. */
export const STEPS_VAR = 'steps';

/**
 * A strict mapping whose unknown keys are named with the keys it does know. Zod reports them as one
 * `unrecognized_keys` issue; the parser splits it per key.
 */
function mapping<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `is not a known key (expected one of ${Object.keys(shape).join(', ')})` : 'must be a mapping'),
  });
}

const text = (what: string) => z.string({ error: `must be ${what}` }).min(1, { error: `must be ${what}, not empty` }).max(100_000);

const tagsSchema = z.union([z.array(z.string().min(1).max(200)).min(1).max(100), z.string().min(1).max(2000)], {
  error: "must be a list of tags such as ['java'] (or a comma-separated string)",
});

/** `worker:` in a step's body: which worker runs it; `worker: ID` is short for `worker: { id: ID }`. */
export const workerSchema = z.union(
  [
    z.string().min(1).max(200),
    mapping({
      id: text('a worker id').optional(),
      tags: tagsSchema.optional(),
      env: text('an environment name').optional(),
      project: text('a project name').optional(),
    }),
  ],
  { error: "must be a worker id or a mapping such as { tags: ['java'] }, { id: myworker } or { env: QA }" },
);

/** A number of seconds or a duration such as `30s`, `10m`, `1h30m`. */
const durationSchema = z.union([z.number().positive(), z.string().min(1).max(50)], {
  error: 'must be a number of seconds or a duration such as `30s`, `10m`, `1h`',
});

const envValue = z.union([z.string().max(100_000), z.number(), z.boolean()], { error: 'must be a string, number or boolean' });

export const shellBodySchema = mapping({
  worker: workerSchema.optional(),
  cmd: z.union([z.string().min(1, { error: 'must not be empty' }).max(100_000), z.array(z.string().max(100_000)).min(1, { error: 'must list at least the program to run' }).max(10_000)], {
    error: 'must be a command: a string (run by the shell) or a non-empty list of strings (run directly as argv)',
  }),
  cwd: text('a folder on the worker').optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), envValue, {
    error: (issue) => (issue.code === 'invalid_key' ? 'is not an environment variable name (letters, digits and `_`)' : 'must be a mapping of NAME: value'),
  }).optional(),
  timeout: durationSchema.optional(),
});

export const shipBodySchema = mapping({
  worker: workerSchema.optional(),
  from: text('a local file path'),
  to: text('a path on the worker'),
  // A YAML number here is almost always an unquoted 0755, which YAML 1.2 reads as the decimal 755.
  mode: z.string({ error: "must be octal permissions in quotes, such as '0755' (YAML reads an unquoted 0755 as the decimal 755)" }).regex(/^(?:0o?)?[0-7]{1,4}$/i, {
    error: "must be octal permissions such as '0644' or '0755'",
  }).optional(),
});

export const fetchBodySchema = mapping({
  worker: workerSchema.optional(),
  from: text('a path on the worker'),
  to: text('a local file or folder path'),
});

export const evalBodySchema = mapping({
  worker: workerSchema.optional(),
  code: text('JavaScript: the body of an async function').optional(),
  file: text('a local file of JavaScript').optional(),
  timeout: durationSchema.optional(),
});

/** The body schema of each verb. */
export const bodySchemas = { shell: shellBodySchema, ship: shipBodySchema, fetch: fetchBodySchema, eval: evalBodySchema } as const;

/** The keys every step may have, whatever its verb. */
export const stepCommonShape = {
  name: z.string({ error: 'must be a step name' }).regex(STEP_NAME_RE, { error: 'must be a step name of letters, digits, `_` and `-` (at most 100)' }).optional(),
  register: z.string({ error: 'must be a variable name' }).regex(VAR_NAME_RE, { error: 'must be a variable name of letters, digits and `_`, not starting with a digit' }).refine((v) => v !== STEPS_VAR, {
    error: `must not be \`${STEPS_VAR}\`: that variable holds every step's result by name`,
  }).optional(),
  when: z.union([z.string().min(1).max(1000), z.boolean()], { error: 'must be a condition such as `build.rc == 0` or `not skip_tests`' }).optional(),
  ignore_errors: z.boolean({ error: 'must be true or false' }).optional(),
};

/** A step of verb `verb`: the common keys plus that verb's body. */
export function stepSchema(verb: Verb) {
  return mapping({ ...stepCommonShape, [verb]: bodySchemas[verb] });
}

/** The top level of the file. `do` is checked step by step, so its errors name the step. */
export const rulebookTopSchema = mapping({
  name: z.string({ error: 'must be a string' }).max(200).optional(),
  description: z.string({ error: 'must be a string' }).max(10_000).optional(),
  vars: z.record(z.string().regex(VAR_NAME_RE), z.unknown(), {
    error: (issue) => (issue.code === 'invalid_key' ? 'is not a variable name (letters, digits and `_`, not starting with a digit)' : 'must be a mapping of variable: value'),
  }).optional(),
  do: z.unknown().optional(),
});

// ---- the checked model ----------------------------------------------------------------------------

/** Which worker runs a step (fields may hold `{{ }}` templates until the step runs). */
export interface WorkerSelector {
  id?: string;
  tags?: string[];
  env?: string;
  project?: string;
}

/** What every step has. */
export interface StepCommon {
  /** Position in `do`, from 0. */
  index: number;
  /** `do[2]`, or `do` for the single-step form `do: { shell: ... }`. */
  label: string;
  /** `name:`, else `<verb>-<index + 1>` (`shell-1`). */
  name: string;
  /** Variable that receives the step's result. */
  register?: string;
  when?: Condition;
  /** A failure is reported and registered, and the rulebook goes on. @default false */
  ignoreErrors: boolean;
  /** Any connected worker when empty. */
  worker: WorkerSelector;
}

export interface ShellStep extends StepCommon {
  verb: 'shell';
  cmd: string | string[];
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface ShipStep extends StepCommon {
  verb: 'ship';
  /** Local file, relative to the rulebook's folder. */
  from: string;
  /** Path on the worker. */
  to: string;
  mode?: number;
}

export interface FetchStep extends StepCommon {
  verb: 'fetch';
  /** Path on the worker. */
  from: string;
  /** Local file or folder, relative to the rulebook's folder. */
  to: string;
}

export interface EvalStep extends StepCommon {
  verb: 'eval';
  /** The code (read from `file:` when given that way); never interpolated, see rulebook-steps.ts. */
  code: string;
  /** Where the code came from, when it came from a file. */
  file?: string;
  timeoutMs?: number;
}

export type Step = ShellStep | ShipStep | FetchStep | EvalStep;

/** A checked rulebook. */
export interface Rulebook {
  /** The file as named to the parser (used in messages). */
  file: string;
  /** Local paths of steps are relative to this folder (absolute). */
  dir: string;
  name?: string;
  description?: string;
  vars: Record<string, unknown>;
  steps: Step[];
}
