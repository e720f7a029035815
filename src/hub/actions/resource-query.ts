/**
 * The small query language of `cla-hub resources search`:
 *
 * ```
 * query      := comparison ( "and" comparison )*
 * comparison := key op value
 * key        := id | kind | worker | plugin | clean | collected | tags.NAME | attrs.PATH | PATH (= attrs.PATH)
 *               | Resoto's paths: desired.clean (= clean), reported.PATH (= the same without `reported.`),
 *                 metadata.worker / metadata.plugin / metadata.collected
 * op         := "=" | "!=" | "~" (regex) | "!~" | "<" | "<=" | ">" | ">="
 * value      := bare word (no spaces, quotes or operators) | "double quoted" | 'single quoted'
 * ```
 *
 * A PATH is dotted: `attrs.placement.zone` (and `placement.zone`) reads the nested field `zone` of the
 * attribute `placement`; an attribute whose own name has a dot (`a.b`) is found first. A tag name is
 * taken whole (`tags.app.kubernetes.io/name`).
 *
 * `=` compares as text, except that two numbers compare as numbers and `true`/`false` match booleans;
 * `<`.. compare numbers; a missing attribute matches only `!=` and `!~`. Examples:
 * `kind = file and tags.owner = lukas`, `path ~ '\.log$' and size > 1000`, `clean = true`,
 * `desired.clean = true`, `reported.tags.owner = lukas`.
 */
import { InvalidArgumentError } from '../../errors.ts';

export type QueryOp = '=' | '!=' | '~' | '!~' | '<' | '<=' | '>' | '>=';

export interface Comparison {
  key: string;
  op: QueryOp;
  value: string;
  /** Compiled for `~` / `!~`. */
  regex?: RegExp;
}

/** A parsed query: every comparison must hold. An empty query matches everything. */
export interface ResourceQuery {
  all: Comparison[];
}

/** A resource as the store returns it. */
export interface QueryableResource {
  worker: string;
  plugin: string;
  id: string;
  kind: string;
  attrs: Record<string, unknown>;
  tags: Record<string, string>;
  clean: boolean;
  collectedAt: number;
}

const TOKEN = /\s*(?:(!=|!~|<=|>=|=|~|<|>)|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\s=!~<>"']+))/y;

interface Token {
  kind: 'op' | 'word' | 'quoted';
  text: string;
  at: number;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  for (;;) {
    const start = TOKEN.lastIndex;
    if (/^\s*$/.test(text.slice(start))) return tokens;
    // Where the token itself starts (after the spaces before it), for error positions.
    const at = start + (text.slice(start).length - text.slice(start).trimStart().length);
    const m = TOKEN.exec(text);
    if (!m) throw new InvalidArgumentError(`Query: unexpected \`${text[at]}\` at position ${at + 1} of \`${text}\``);
    if (m[1] !== undefined) tokens.push({ kind: 'op', text: m[1], at });
    else if (m[2] !== undefined) tokens.push({ kind: 'quoted', text: m[2].replace(/\\(.)/g, '$1'), at });
    else if (m[3] !== undefined) tokens.push({ kind: 'quoted', text: m[3].replace(/\\(.)/g, '$1'), at });
    else tokens.push({ kind: 'word', text: m[4]!, at });
  }
}

/** Parses a query; throws {@link InvalidArgumentError} naming the position of the problem. */
export function parseResourceQuery(text: string): ResourceQuery {
  const tokens = tokenize(text);
  const all: Comparison[] = [];
  let i = 0;
  const where = (t: Token | undefined) => (t ? `at position ${t.at + 1}` : 'at the end');
  while (i < tokens.length) {
    if (all.length > 0) {
      const joiner = tokens[i]!;
      if (joiner.kind !== 'word' || joiner.text.toLowerCase() !== 'and') {
        throw new InvalidArgumentError(`Query: expected \`and\` ${where(joiner)} of \`${text}\`, got \`${joiner.text}\``);
      }
      i += 1;
    }
    const key = tokens[i];
    const op = tokens[i + 1];
    const value = tokens[i + 2];
    if (!key || key.kind !== 'word') throw new InvalidArgumentError(`Query: expected a key ${where(key)} of \`${text}\``);
    if (!op || op.kind !== 'op') throw new InvalidArgumentError(`Query: expected one of = != ~ !~ < <= > >= after \`${key.text}\` ${where(op)} of \`${text}\``);
    if (!value || value.kind === 'op') throw new InvalidArgumentError(`Query: expected a value after \`${key.text} ${op.text}\` ${where(value)} of \`${text}\``);
    const comparison: Comparison = { key: canonicalKey(key.text), op: op.text as QueryOp, value: value.text };
    if (comparison.op === '~' || comparison.op === '!~') {
      try {
        comparison.regex = new RegExp(value.text);
      } catch (error) {
        throw new InvalidArgumentError(`Query: \`${value.text}\` is not a regular expression: ${(error as Error).message}`);
      }
    }
    if ((comparison.op === '<' || comparison.op === '<=' || comparison.op === '>' || comparison.op === '>=') && !Number.isFinite(Number(value.text))) {
      throw new InvalidArgumentError(`Query: \`${key.text} ${op.text}\` needs a number, got \`${value.text}\``);
    }
    all.push(comparison);
    i += 3;
  }
  return { all };
}

/** Resoto's sections (`desired.clean`, `reported.kind`, `metadata.worker`) as this store's keys. */
export function canonicalKey(key: string): string {
  if (key === 'desired.clean') return 'clean';
  if (key.startsWith('reported.') && key.length > 9) return canonicalKey(key.slice(9));
  if (key === 'metadata.worker' || key === 'metadata.plugin') return key.slice(9);
  if (key === 'metadata.collected') return 'collected';
  return key;
}

/** A dotted path inside an attribute value: the literal key first (`a.b`), then nested fields. */
function attrPath(attrs: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(attrs, path)) return attrs[path];
  const dot = path.indexOf('.');
  if (dot < 0) return undefined;
  // Longest own key first, so `a.b.c` finds `{"a.b": {c}}` as well as `{a: {b: {c}}}`.
  for (let end = path.lastIndexOf('.'); end > 0; end = path.lastIndexOf('.', end - 1)) {
    const head = path.slice(0, end);
    const inner = Object.hasOwn(attrs, head) ? attrs[head] : undefined;
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      const found = attrPath(inner as Record<string, unknown>, path.slice(end + 1));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The value a key names on a resource (undefined when it has none). */
export function resourceValue(resource: QueryableResource, name: string): unknown {
  const key = canonicalKey(name);
  switch (key) {
    case 'id':
    case 'kind':
    case 'worker':
    case 'plugin':
    case 'clean':
      return resource[key];
    case 'collected':
      return resource.collectedAt;
  }
  if (key.startsWith('tags.')) return Object.hasOwn(resource.tags, key.slice(5)) ? resource.tags[key.slice(5)] : undefined;
  if (key.startsWith('attrs.')) return attrPath(resource.attrs, key.slice(6));
  return attrPath(resource.attrs, key);
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function holds(c: Comparison, value: unknown): boolean {
  if (value === undefined || value === null) return c.op === '!=' || c.op === '!~';
  switch (c.op) {
    case '=':
    case '!=': {
      let equal: boolean;
      if (typeof value === 'number' && c.value.trim() !== '' && Number.isFinite(Number(c.value))) equal = value === Number(c.value);
      else if (typeof value === 'boolean') equal = String(value) === c.value.toLowerCase();
      else equal = text(value) === c.value;
      return c.op === '=' ? equal : !equal;
    }
    case '~':
      return c.regex!.test(text(value));
    case '!~':
      return !c.regex!.test(text(value));
    default: {
      const n = typeof value === 'number' ? value : Number(value);
      if (!Number.isFinite(n)) return false;
      const v = Number(c.value);
      return c.op === '<' ? n < v : c.op === '<=' ? n <= v : c.op === '>' ? n > v : n >= v;
    }
  }
}

/** True when every comparison of the query holds for the resource. */
export function matchesQuery(query: ResourceQuery, resource: QueryableResource): boolean {
  return query.all.every((c) => holds(c, resourceValue(resource, c.key)));
}
