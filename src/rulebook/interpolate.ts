/**
 * Variables in rulebooks: `{{ name.path }}` in strings and `when:` conditions. A deliberately small
 * language: a template names a path of own properties (`build.stdout`, `steps.compile.rc`,
 * `build.stdout_lines.0`) and nothing else, so a rulebook never runs code on the machine that runs it.
 *
 * - `{{ path }}` (spaces optional) is replaced by the value at `path`: strings as they are, numbers and
 *   booleans as text, `null` as the empty string, lists and mappings as JSON.
 * - `{{` followed by anything that is not a path (`{{.Id}}`, `{{ json .Config }}`) is left alone, so Go and
 *   Docker templates in commands need no escaping; `\{{` is a literal `{{` for the rare path-shaped one.
 * - `when:` is `[not] PATH [== LITERAL | != LITERAL]` (the path may be written `{{ PATH }}` too), or a YAML
 *   boolean. Comparisons are of text (`rc == 0` holds for the number 0 and for `"0"`, since `--var` values
 *   are text). Falsy: undefined, null, false, 0, NaN, the empty string, `false`/`no`/`off`/`0` in any case,
 *   an empty list or mapping.
 */
import { ClaError, ErrorCode } from '../errors.ts';

/** Variables: the rulebook's `vars`, `--var` overrides, registered results and `steps`. */
export type Scope = Record<string, unknown>;

const SEGMENT = '[A-Za-z0-9_-]+';
const PATH = `${SEGMENT}(?:\\.${SEGMENT})*`;
const PATH_RE = new RegExp(`^${PATH}$`);
/** `\{{` (escaped) or `{{ path }}`. */
const TEMPLATE_RE = new RegExp(`\\\\\\{\\{|\\{\\{\\s*(${PATH})\\s*\\}\\}`, 'g');

/** Whether `text` is a variable path such as `build.stdout`. */
export function isPath(text: string): boolean {
  return PATH_RE.test(text);
}

/** The paths `text` refers to with `{{ ... }}`, in order (repeats kept). */
export function templatePaths(text: string): string[] {
  const paths: string[] = [];
  for (const match of text.matchAll(TEMPLATE_RE)) if (match[1] !== undefined) paths.push(match[1]);
  return paths;
}

/** The value at `path` in `scope` (own properties only, never a prototype's), or undefined. */
export function lookup(scope: Scope, path: string): unknown {
  let value: unknown = scope;
  for (const segment of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    if (Array.isArray(value)) {
      if (!/^\d+$/.test(segment)) return undefined;
      value = value[Number(segment)];
    } else {
      if (!Object.hasOwn(value, segment)) return undefined;
      value = (value as Record<string, unknown>)[segment];
    }
  }
  return value;
}

/** How a value is written into a string. */
export function renderValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null) return '';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value, (_key, item: unknown) =>
    item instanceof Uint8Array ? { $binary: Buffer.from(item.buffer, item.byteOffset, item.byteLength).toString('base64') } : item,
  );
}

/** What to do with a path that is not defined. */
export type OnUndefined = 'throw' | 'keep';

/**
 * Replaces every `{{ path }}` of `text`. An undefined path throws INVALID_ARGUMENT naming it (`throw`) or
 * stays as written (`keep`, for `--dry-run` plans where registered results are not known yet).
 */
export function interpolate(text: string, scope: Scope, onUndefined: OnUndefined = 'throw'): string {
  return text.replace(TEMPLATE_RE, (whole, path: string | undefined) => {
    if (path === undefined) return '{{';
    const value = lookup(scope, path);
    if (value !== undefined) return renderValue(value);
    if (onUndefined === 'keep') return whole;
    throw new ClaError(ErrorCode.InvalidArgument, `\`{{ ${path} }}\` is not defined (defined: ${Object.keys(scope).sort().join(', ') || 'nothing'})`, {
      data: { path },
    });
  });
}

/** Interpolates every string in a value of strings, lists of strings and mappings of strings. */
export function interpolateDeep<T>(value: T, scope: Scope, onUndefined: OnUndefined = 'throw'): T {
  if (typeof value === 'string') return interpolate(value, scope, onUndefined) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => interpolateDeep(item, scope, onUndefined)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, key, { value: interpolateDeep(item, scope, onUndefined), enumerable: true, writable: true, configurable: true });
    }
    return out as T;
  }
  return value;
}

/** A parsed `when:` condition. */
export type Condition =
  | { kind: 'constant'; value: boolean; source: string }
  | { kind: 'test'; path: string; negate: boolean; compare?: { op: '==' | '!='; value: string | null }; source: string };

const CONDITION_RE = new RegExp(
  `^\\s*(not\\s+)?(?:(${PATH})|\\{\\{\\s*(${PATH})\\s*\\}\\})\\s*(?:(==|!=)\\s*(-?\\d+(?:\\.\\d+)?|true|false|null|'[^']*'|"[^"]*"))?\\s*$`,
);

/** Parses a `when:` value; null when it is not a condition. */
export function parseCondition(raw: string | boolean): Condition | null {
  if (typeof raw === 'boolean') return { kind: 'constant', value: raw, source: String(raw) };
  const match = CONDITION_RE.exec(raw);
  if (!match) return null;
  const path = (match[2] ?? match[3])!;
  const literal = match[5];
  const compare =
    match[4] === undefined || literal === undefined
      ? undefined
      : { op: match[4] as '==' | '!=', value: /^['"]/.test(literal) ? literal.slice(1, -1) : literal === 'null' ? null : literal };
  return { kind: 'test', path, negate: match[1] !== undefined, ...(compare ? { compare } : {}), source: raw.trim() };
}

/** Whether a value counts as true in `when:` (see the module comment). */
export function isTruthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'string') return !/^(|false|no|off|0)$/i.test(value.trim());
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Uint8Array) return value.byteLength > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** Evaluates a condition; an undefined path is false (a result registered by a skipped step). */
export function evaluateCondition(condition: Condition, scope: Scope): boolean {
  if (condition.kind === 'constant') return condition.value;
  const value = lookup(scope, condition.path);
  let result: boolean;
  if (condition.compare) {
    // `== null` holds for undefined, null and the empty string; other literals compare as text.
    const expected = condition.compare.value;
    const equal = expected === null ? value === undefined || value === null || value === '' : value !== undefined && renderValue(value) === expected;
    result = condition.compare.op === '==' ? equal : !equal;
  } else result = isTruthy(value);
  return condition.negate ? !result : result;
}
