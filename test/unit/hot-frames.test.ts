/**
 * The plain checks of an exec round trip's and a broadcast's frames (src/protocol/hot-frames.ts) against their zod
 * schemas: a check may only accept what the schema accepts and returns unchanged. Held on every frame of
 * the replay fixtures (frames the real hub, worker and admin client sent) and on mutations of each hot
 * frame found there: every field missing, set to values of the wrong type or range, and an extra key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameError } from '../../src/errors.ts';
import { decodeFrame, decodeRaw, encodeFrame } from '../../src/protocol/codec.ts';
import { frameSchema, type Frame } from '../../src/protocol/frames.ts';
import { HOT_FRAME_TYPES, isValidHotFrame } from '../../src/protocol/hot-frames.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/version.ts';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'replay', 'fixtures');

type Fields = Record<string, unknown>;

/** Every frame in the replay fixtures that is a msgpack map, decoded without validation. */
function fixtureFrames(): Fields[] {
  const frames: Fields[] = [];
  for (const file of fs.readdirSync(FIXTURES).filter((name) => name.endsWith('.rec'))) {
    for (const line of fs.readFileSync(path.join(FIXTURES, file), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const entry = JSON.parse(line) as { b64?: string };
      if (entry.b64 === undefined) continue;
      let value: unknown;
      try {
        value = decodeRaw(Buffer.from(entry.b64, 'base64'));
      } catch {
        continue; // the garbage bytes of the refusals scenario
      }
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) frames.push(value as Fields);
    }
  }
  return frames;
}

/**
 * The property: whatever the check accepts, zod accepts and returns equal. Returns whether the check
 * accepted, so callers can also require it to take the plain valid frames.
 */
function agrees(value: Fields, what: string): boolean {
  const fast = isValidHotFrame(String(value.t), value);
  if (fast) {
    const parsed = frameSchema.safeParse(value);
    assert.ok(parsed.success, `the check accepted ${what}, which zod refuses: ${parsed.success ? '' : parsed.error.issues[0]?.message}`);
    assert.equal(parsed.data, value, `zod would return ${what} changed`);
  }
  return fast;
}

/** Wrong values of every kind the schemas tell apart. */
const ODD_VALUES: unknown[] = [
  undefined, null, true, false, 0, -0, -1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, '', 'x', 'x'.repeat(51),
  'x'.repeat(101), 'x'.repeat(201), 'x'.repeat(4097), [], ['x'], [1], {}, { kind: 'exec' }, new Date(0), new Uint8Array(1),
];

/** A frame changed at one path: `path` names a key, or a key of a nested object (`job.cmd`). */
function mutated(value: Fields, keyPath: string[], replace: (parent: Fields, key: string) => void): Fields {
  const copy = structuredClone(value);
  let parent = copy;
  for (const key of keyPath.slice(0, -1)) parent = parent[key] as Fields;
  replace(parent, keyPath.at(-1)!);
  return copy;
}

/** Paths to every key of `value`, nested plain objects included. */
function keyPaths(value: Fields, prefix: string[] = []): string[][] {
  const paths: string[][] = [];
  for (const [key, field] of Object.entries(value)) {
    paths.push([...prefix, key]);
    if (field !== null && typeof field === 'object' && Object.getPrototypeOf(field) === Object.prototype) paths.push(...keyPaths(field as Fields, [...prefix, key]));
  }
  return paths;
}

const frames = fixtureFrames();
const hot = frames.filter((f) => HOT_FRAME_TYPES.includes(String(f.t)));

test('the fixtures hold frames of every hot type', () => {
  const seen = new Set(hot.map((f) => f.t));
  assert.equal([...seen].sort(), [...HOT_FRAME_TYPES].sort());
});

test('every fixture frame: the check accepts only what zod returns unchanged, and takes the valid hot frames', () => {
  let accepted = 0;
  for (const f of frames) {
    const fast = agrees(f, `the fixture frame ${JSON.stringify(f)}`);
    if (fast) accepted++;
    // Frames of other types, or exec jobs with an env, are zod's: never accepted here.
    if (!HOT_FRAME_TYPES.includes(String(f.t))) assert.not.ok(fast, `a ${String(f.t)} frame is not a hot frame`);
  }
  const plain = hot.filter((f) => !(f.env !== undefined || (f.job as Fields | undefined)?.env !== undefined || (f.t === 'run' && (f.job as Fields).kind !== 'exec')));
  assert.ok(plain.length >= HOT_FRAME_TYPES.length);
  assert.is(accepted, plain.length, 'each plain hot frame of the fixtures is taken without zod');
});

/**
 * Checks `sample` mutated every way (each field missing, set to each odd value; an extra key) against zod;
 * returns how many of the mutations zod refused.
 */
function checkMutations(sample: Fields): number {
  let refusedByZod = 0;
  for (const keyPath of keyPaths(sample)) {
    if (keyPath.join('.') === 'v' || keyPath.join('.') === 't') continue;
    const cases = [
      mutated(sample, keyPath, (parent, key) => delete parent[key]),
      ...ODD_VALUES.map((odd) => mutated(sample, keyPath, (parent, key) => (parent[key] = odd))),
    ];
    for (const value of cases) {
      if (!frameSchema.safeParse(value).success) refusedByZod++;
      agrees(value, `${String(sample.t)} with ${keyPath.join('.')} changed: ${String(JSON.stringify(value))}`);
    }
  }
  for (const extra of [{ extra: 1 }, { __proto__x: 1 }]) agrees({ ...sample, ...extra }, `${String(sample.t)} with an extra key`);
  const job = sample.job as Fields | undefined;
  if (job) agrees({ ...sample, job: { ...job, extra: 1 } }, 'a run whose job has an extra key');
  const target = sample.target as Fields | undefined;
  if (target) agrees({ ...sample, target: { ...target, extra: 1 } }, 'a run whose target has an extra key');
  return refusedByZod;
}

test('mutations of each hot frame: missing, wrong and extra fields are never accepted where zod refuses or strips', () => {
  let refusedByZod = 0;
  const samples = new Map<unknown, Fields>();
  for (const f of hot) if (isValidHotFrame(String(f.t), f) && !samples.has(f.t)) samples.set(f.t, f);
  for (const sample of samples.values()) refusedByZod += checkMutations(sample);
  assert.ok(refusedByZod > 100, `the mutations reached zod's refusals (${refusedByZod})`);
});

// `cla-hub exec` sends a `run` with `started: false` (exec8), which the hub passes on in `exec` (exec11).
for (const t of ['run', 'exec']) {
  test(`a ${t} with \`started: false\` (what \`cla-hub exec\` causes) is taken without zod, and its mutations agree with zod`, () => {
    const plain = hot.find((f) => f.t === t && isValidHotFrame(t, f));
    assert.ok(plain, `the fixtures hold a plain exec ${t}`);
    const quiet = { ...plain, started: false };
    assert.ok(frameSchema.safeParse(quiet).success);
    assert.ok(agrees(quiet, `a ${t} with started: false`), `a ${t} with \`started: false\` went to zod`);
    assert.not.ok(isValidHotFrame(t, { ...plain, started: true }), 'started: true is not a value the schema takes');
    assert.ok(checkMutations(quiet) > 10);
  });
}

test('a malformed hot frame still gets zod\'s message naming the field', () => {
  const bad = { v: PROTOCOL_VERSION, t: 'exit', re: 'r1', code: 1.5, signal: null, timedOut: false, cancelled: false, durationMs: 3 };
  try {
    decodeFrame(encodeFrame(bad as unknown as Frame));
    assert.unreachable('a fractional exit code was accepted');
  } catch (error) {
    assert.instance(error, FrameError);
    assert.is((error as FrameError).data?.field, 'code');
    assert.is((error as FrameError).data?.re, 'r1');
    assert.match((error as FrameError).message, /^Invalid `exit` frame: field `code`: /);
  }
  const run = { v: PROTOCOL_VERSION, t: 'run', id: 'r2', target: { worker: 'w' }, job: { kind: 'exec', cmd: [] } };
  try {
    decodeFrame(encodeFrame(run as unknown as Frame));
    assert.unreachable('an empty argv was accepted');
  } catch (error) {
    assert.is((error as FrameError).data?.field, 'job.cmd');
  }
});

test('a type named like an inherited method is not a hot frame', () => {
  for (const t of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) assert.not.ok(isValidHotFrame(t, { v: PROTOCOL_VERSION, t }));
});

test.run();
