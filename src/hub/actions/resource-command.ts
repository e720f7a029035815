/**
 * Resoto's search line (../../../../shared/seeds/resoto-worker.txt, "Tasks"):
 *
 * ```
 * line := [ "search" ] QUERY [ "|" tag ]
 * tag  := "tag" "update" [ "--nowait" ] KEY VALUE      set the tag KEY to VALUE
 *       | "tag" "delete" [ "--nowait" ] KEY            remove the tag KEY
 * ```
 *
 * QUERY is the language of resource-query.ts. `search id = i-039e06bb2539e5484 | tag update owner lukas`
 * makes one `tag` task per matching resource (resource-tagging.ts). The `|` splits outside quotes only,
 * so a regex with `|` is quoted: `name ~ 'a|b'`. KEY and VALUE are words or quoted strings; VALUE is
 * taken literally (Resoto's `{name}` templates are not expanded). `--nowait` returns once the tasks are
 * submitted instead of waiting for their outcome.
 */
import { InvalidArgumentError } from '../../errors.ts';
import { parseResourceQuery, type ResourceQuery } from './resource-query.ts';

/** The `| tag ...` part. */
export type TagCommand = { op: 'update'; key: string; value: string; nowait: boolean } | { op: 'delete'; key: string; nowait: boolean };

/** A parsed search line. */
export interface ResourceCommand {
  /** The query part as typed (without `search` and the pipe). */
  queryText: string;
  query: ResourceQuery;
  /** The tag change to make on every match, or null for a plain search. */
  tag: TagCommand | null;
}

/** The line's segments between `|` outside quotes. */
function splitPipes(text: string): string[] {
  const parts: string[] = [];
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== null) {
      if (c === '\\') i += 1;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '|') {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quote !== null) throw new InvalidArgumentError(`Query: a ${quote} quote is not closed in \`${text}\``);
  parts.push(text.slice(start));
  return parts;
}

/** Words of a segment: spaces separate, quotes group (`'two words'`), `\` escapes inside quotes. */
function words(segment: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\S+))/y;
  for (let m = re.exec(segment); m !== null && m[0].trim() !== ''; m = re.exec(segment)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
  }
  return out;
}

const TAG_USAGE = 'expected `tag update KEY VALUE` or `tag delete KEY` (optionally with --nowait)';

function parseTag(segment: string, line: string): TagCommand {
  const w = words(segment);
  if (w[0] !== 'tag' || (w[1] !== 'update' && w[1] !== 'delete')) {
    throw new InvalidArgumentError(`Query: after \`|\` ${TAG_USAGE}, got \`${segment.trim()}\` in \`${line}\``);
  }
  const rest = w.slice(2);
  const nowait = rest[0] === '--nowait';
  const args = nowait ? rest.slice(1) : rest;
  const wanted = w[1] === 'update' ? 2 : 1;
  if (args.length !== wanted || args[0] === '') {
    throw new InvalidArgumentError(
      `Query: \`tag ${w[1]}\` takes ${w[1] === 'update' ? 'KEY VALUE' : 'KEY'}, got ${args.length ? args.map((a) => `\`${a}\``).join(' ') : 'nothing'} (quote a value with spaces: 'two words')`,
    );
  }
  return w[1] === 'update' ? { op: 'update', key: args[0]!, value: args[1]!, nowait } : { op: 'delete', key: args[0]!, nowait };
}

/**
 * Parses a search line (a leading `search` word, as typed in Resoto's shell, is allowed).
 * @throws InvalidArgumentError naming what is wrong
 */
export function parseResourceCommand(line: string): ResourceCommand {
  const [first, ...pipes] = splitPipes(line);
  // `search` followed by a key (not by an operator: `search = x` compares an attribute named search).
  const queryText = first!.replace(/^\s*search(?=\s|$)(?!\s*(?:!=|!~|<=|>=|=|~|<|>))/, '').trim();
  if (pipes.length > 1) throw new InvalidArgumentError(`Query: one \`| tag ...\` at most, got ${pipes.length} pipes in \`${line}\``);
  const tag = pipes.length === 1 ? parseTag(pipes[0]!, line) : null;
  if (tag && queryText === '') throw new InvalidArgumentError(`Query: \`tag ${tag.op}\` needs a query before the \`|\` (it would change every resource), e.g. \`id = i-039e06bb2539e5484 | tag ${tag.op} ${tag.key}${tag.op === 'update' ? ` ${tag.value}` : ''}\``);
  return { queryText, query: parseResourceQuery(queryText), tag };
}
