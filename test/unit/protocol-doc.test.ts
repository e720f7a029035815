// Keeps protocol.md in step with the wire format: every frame type, field, error code and close code the
// code defines must be documented, and the document must not describe fields or codes that are gone.
// Conventions checked here (see protocol.md, "Frames"): one `### `type`` heading per frame under
// `## Frames`; each section has a fields table whose first column is `` `field` `` (nested maps as
// `` `parent.child` ``), a `**Direction:**` line, an `**Error codes:**` line and an example with `"t"`.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { ErrorCode } from '../../src/errors.ts';
import { frameSchema } from '../../src/protocol/frames.ts';
import { CloseCode, DEFAULT_MAX_FRAME_BYTES, FINAL_CLOSE_CODES, MAX_CHUNK_BYTES, PROTOCOL_VERSION } from '../../src/protocol/version.ts';
import { DEFAULT_TASK_CONCURRENCY, defaultTaskPrefetch } from '../../src/worker/tasks/task-extension.ts';

const doc = readFileSync(fileURLToPath(new URL('../../protocol.md', import.meta.url)), 'utf8');
const lines = doc.split('\n');

/** The lines under the `## title` heading, up to the next `## ` heading. */
function h2(title: string): string[] {
  const start = lines.findIndex((line) => line.trim() === `## ${title}`);
  assert.ok(start >= 0, `protocol.md has no "## ${title}" section`);
  const end = lines.findIndex((line, index) => index > start && line.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? lines.length : end);
}

const FRAME_HEADING = /^### `([^`]+)`\s*$/;

/** Frame sections of `## Frames`, by type: the lines after each `### `type`` heading. */
function frameSections(): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of h2('Frames')) {
    const match = FRAME_HEADING.exec(line);
    if (match) {
      assert.not.ok(sections.has(match[1]!), `two sections for frame \`${match[1]}\``);
      current = [];
      sections.set(match[1]!, current);
    } else if (line.startsWith('### ')) current = undefined;
    else current?.push(line);
  }
  return sections;
}

/** Splits a markdown table row into trimmed cells (`\|` stays inside a cell). */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

/** The body rows of every table in `section` (header and separator rows dropped), as cells. */
function tableRows(section: string[]): string[][] {
  const rows: string[][] = [];
  let inTable = false;
  let header = true;
  for (const line of section) {
    if (!line.trim().startsWith('|')) {
      inTable = false;
      continue;
    }
    if (!inTable) {
      inTable = true;
      header = true;
    }
    if (header) {
      header = !/^\|[\s|:-]+\|$/.test(line.trim()); // stays true until the separator row
      continue;
    }
    rows.push(cells(line));
  }
  return rows;
}

/** The header cells of the first table in `section`. */
function tableHeader(section: string[]): string[] {
  const line = section.find((l) => l.trim().startsWith('|'));
  assert.ok(line, 'expected a table');
  return cells(line);
}

/** The first-column names of a frame section's table: `` `seq` `` -> `seq`, `` `agent.pid` `` -> `agent.pid`. */
function documentedFields(section: string[]): string[] {
  return tableRows(section)
    .map((row) => /^`([A-Za-z_][\w.]*)`$/.exec(row[0] ?? '')?.[1])
    .filter((name): name is string => name !== undefined);
}

/**
 * The object shape of a field schema, looking through `.optional()`; undefined for non-objects. A
 * discriminated union of maps (`run.job`, one map per `kind`) gives the fields of all its options, so its
 * `parent.child` rows are checked like those of a plain nested map.
 */
function objectShape(schema: unknown): Record<string, unknown> | undefined {
  let inner = schema;
  if (inner instanceof z.ZodOptional) inner = inner.unwrap();
  if (inner instanceof z.ZodDiscriminatedUnion) {
    const shapes = (inner.options as unknown[]).map(objectShape).filter((shape) => shape !== undefined);
    return shapes.length > 0 ? Object.assign({}, ...shapes) : undefined;
  }
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, unknown>) : undefined;
}

/** Every field a frame's schema defines, nested object fields as `parent.child`. */
function schemaFields(shape: Record<string, unknown>): string[] {
  const fields: string[] = [];
  for (const [key, schema] of Object.entries(shape)) {
    fields.push(key);
    const nested = objectShape(schema);
    if (nested) fields.push(...Object.keys(nested).map((child) => `${key}.${child}`));
  }
  return fields;
}

const frames = frameSchema.options.map((option) => ({ type: option.shape.t.value as string, shape: option.shape as Record<string, unknown> }));
const errorCodes = Object.values(ErrorCode) as string[];
const closeCodes = Object.entries(CloseCode) as [string, number][];

test('frameSchema options expose their type as shape.t.value', () => {
  assert.ok(frames.length >= 19, `expected the 19 frame types of version 1, got ${frames.length}`);
  for (const { type, shape } of frames) {
    assert.type(type, 'string');
    assert.ok(/^[a-z_]+$/.test(type), `odd frame type ${JSON.stringify(type)}`);
    assert.ok('v' in shape && 't' in shape, `frame \`${type}\` lacks v or t`);
  }
  assert.is(new Set(frames.map((f) => f.type)).size, frames.length, 'duplicate frame types');
});

test('every frame type has a ### `type` section under ## Frames', () => {
  const sections = frameSections();
  const missing = frames.filter((f) => !sections.has(f.type)).map((f) => f.type);
  assert.equal(missing, [], `protocol.md lacks sections for: ${missing.join(', ')}`);
});

test('every ### `type` section under ## Frames is a frame type', () => {
  const known = new Set(frames.map((f) => f.type));
  const stale = [...frameSections().keys()].filter((type) => !known.has(type));
  assert.equal(stale, [], `protocol.md documents frame types the code lacks: ${stale.join(', ')}`);
});

test("every field of every frame is in its section's table", () => {
  const sections = frameSections();
  for (const { type, shape } of frames) {
    const documented = new Set(documentedFields(sections.get(type) ?? []));
    const missing = schemaFields(shape).filter((field) => !documented.has(field));
    assert.equal(missing, [], `\`${type}\` table lacks: ${missing.join(', ')}`);
  }
});

test("no frame table lists a field its schema lacks", () => {
  const sections = frameSections();
  for (const { type, shape } of frames) {
    const fields = new Set(schemaFields(shape));
    const stale = documentedFields(sections.get(type) ?? []).filter((field) => !fields.has(field));
    assert.equal(stale, [], `\`${type}\` table lists fields the schema lacks: ${stale.join(', ')}`);
  }
});

test('every frame section states a direction, its error codes and an example of its type', () => {
  const sections = frameSections();
  for (const { type } of frames) {
    const text = (sections.get(type) ?? []).join('\n');
    assert.ok(/^\*\*Direction:\*\* /m.test(text), `\`${type}\` has no **Direction:** line`);
    assert.ok(/^\*\*Error codes:\*\* /m.test(text), `\`${type}\` has no **Error codes:** line`);
    assert.ok(text.includes(`"t": "${type}"`), `\`${type}\` has no example with "t": "${type}"`);
    assert.ok(text.includes(`"v": ${PROTOCOL_VERSION}`), `\`${type}\` example lacks "v": ${PROTOCOL_VERSION}`);
  }
});

test('error codes named in frame sections are real ErrorCodes', () => {
  const known = new Set(errorCodes);
  for (const [type, section] of frameSections()) {
    const text = section.join('\n');
    const named = [...text.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,})`/g)].map((m) => m[1]!);
    const signals = new Set(['SIGINT', 'SIGTERM', 'SIGKILL', 'CLA_HUB_ADMIN_TOKEN']);
    const unknown = named.filter((code) => !known.has(code) && !signals.has(code));
    assert.equal(unknown, [], `\`${type}\` names unknown error codes: ${unknown.join(', ')}`);
  }
});

test('every ErrorCode has a row in the Error codes table, and every row is an ErrorCode', () => {
  const rows = tableRows(h2('Error codes'))
    .map((row) => /^`([A-Z_]+)`$/.exec(row[0] ?? '')?.[1])
    .filter((code): code is string => code !== undefined);
  const missing = errorCodes.filter((code) => !rows.includes(code));
  assert.equal(missing, [], `Error codes table lacks: ${missing.join(', ')}`);
  const stale = rows.filter((code) => !errorCodes.includes(code));
  assert.equal(stale, [], `Error codes table lists unknown codes: ${stale.join(', ')}`);
  assert.is(new Set(rows).size, rows.length, 'an error code has two rows');
});

test('every ErrorCode value appears in protocol.md', () => {
  for (const code of errorCodes) assert.ok(doc.includes(`\`${code}\``), `protocol.md never names \`${code}\``);
});

test('every CloseCode has a row in the Close codes table, and "Worker reconnects" matches FINAL_CLOSE_CODES', () => {
  const section = h2('Close codes');
  const header = tableHeader(section);
  const reconnects = header.findIndex((cell) => /worker reconnects/i.test(cell));
  const nameColumn = header.findIndex((cell) => /^name$/i.test(cell));
  assert.ok(reconnects > 0 && nameColumn > 0, `unexpected Close codes header: ${header.join(' | ')}`);
  const rows = new Map<number, string[]>();
  for (const row of tableRows(section)) {
    if (/^\d{4}$/.test(row[0] ?? '')) rows.set(Number(row[0]), row);
  }
  for (const [name, code] of closeCodes) {
    const row = rows.get(code);
    assert.ok(row, `Close codes table lacks ${code} (${name})`);
    assert.is(row[nameColumn], name, `close code ${code} should be named ${name}`);
  }
  for (const [code, row] of rows) {
    const answer = (row[reconnects] ?? '').toLowerCase();
    const expected = FINAL_CLOSE_CODES.has(code) ? 'no' : 'yes';
    assert.ok(answer.startsWith(expected), `close code ${code}: "Worker reconnects" should be ${expected}, is "${row[reconnects]}"`);
  }
  for (const code of FINAL_CLOSE_CODES) assert.ok(rows.has(code), `final close code ${code} is not in the table`);
});

test('every CloseCode number appears in protocol.md', () => {
  for (const [name, code] of closeCodes) assert.ok(doc.includes(String(code)), `protocol.md never names ${code} (${name})`);
});

test('the title names the protocol version the code speaks', () => {
  assert.is(lines[0], `# cla-worker wire protocol, version ${PROTOCOL_VERSION}`);
});

test('the Constants table matches src/protocol/version.ts', () => {
  const rows = new Map(tableRows(h2('Overview')).map((row) => [row[0] ?? '', row[1] ?? '']));
  const expected: Record<string, number> = { PROTOCOL_VERSION, DEFAULT_MAX_FRAME_BYTES, MAX_CHUNK_BYTES };
  for (const [name, value] of Object.entries(expected)) {
    assert.is(rows.get(`\`${name}\``), String(value), `Constants table: \`${name}\` should be ${value}`);
  }
});

test("the defaults table gives a worker's default taskCapacity as the worker computes it", () => {
  const row = tableRows(h2('Overview')).find((cells) => cells[0] === 'worker `taskCapacity`');
  assert.ok(row, 'no row for the worker `taskCapacity` in the defaults table');
  const prefetch = defaultTaskPrefetch(DEFAULT_TASK_CONCURRENCY);
  assert.ok(row[1]!.startsWith(`concurrency ${DEFAULT_TASK_CONCURRENCY} + prefetch ${prefetch} = ${DEFAULT_TASK_CONCURRENCY + prefetch} `), row[1]);
});

test.run();
