/**
 * What a replay compares: per connection, the outgoing frames of the side that recorded, decoded with
 * the real codec, with a short explicit list of unstable fields replaced, then the close code. Each
 * frame becomes one exact line (`[c3] welcome session="c3" ...`): unlike `formatRecording` nothing is
 * masked or shortened, so two lines are equal only when the frames are.
 */
import { decodeRaw } from '../../src/protocol/codec.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/version.ts';
import type { RecordLine } from '../../src/transport/recorder.ts';

/** A field replaced by `<normalised>` before comparing, and why it cannot be compared. */
export interface NormalisedField {
  /** Frame type (`t`). */
  frame: string;
  /**
   * Dotted paths inside that frame. A segment may pick array elements: `resources[]` every element,
   * `resources[kind=folder]` those whose `kind` is the string `folder`.
   */
  fields: string[];
  why: string;
}

/**
 * The hub side needs one: pids and job durations in what it sends come from the worker bytes it is fed,
 * job, task and lease ids and secrets from the same seeded sources, and each replayed connection carries
 * its recorded id, so `welcome.session` matches too. A method call's `durationMs` is the hub's own wall
 * time (src/hub/admin-session.ts), a millisecond or two that differs from run to run.
 */
export const HUB_NORMALISED: readonly NormalisedField[] = [
  { frame: 'result', fields: ['durationMs'], why: "wall-clock time of a method call on the hub (admin-session.ts), not the injected clock's" },
];

/** The worker side, where a real process runs real commands. */
export const WORKER_NORMALISED: readonly NormalisedField[] = [
  {
    frame: 'hello',
    fields: ['agent.pid', 'agent.user', 'agent.host', 'agent.platform'],
    why: 'the process, user and machine that ran the worker; fixtures replay in other processes and on other machines',
  },
  { frame: 'started', fields: ['pid'], why: 'the process id the OS gave the command' },
  { frame: 'exit', fields: ['durationMs'], why: 'wall-clock time in the recording, simulated time in the replay' },
  {
    frame: 'resources',
    fields: ['resources[kind=folder].attrs.size'],
    why: "a folder's size is the filesystem's business (4096 on ext4, entry-dependent on tmpfs, btrfs, overlayfs); file sizes are compared",
  },
];
// Not normalised: the fs plugin's `age_s`. It is computed from the injected clock (FsCollector reads
// `init.clock.now()`, never Date.now), the recording's clock starts at SCENARIO_EPOCH and the tree's mtimes
// are fixed before it (replay-tree.ts), so the replay's SimulatedClock gives the recorded ages again.

export const NORMALISED = '<normalised>';

/** A copy of a decoded frame with the listed fields replaced (only where present). */
export function normalise(value: unknown, rules: readonly NormalisedField[]): unknown {
  if (!isRecord(value)) return value;
  const copy = structuredClone(value);
  for (const rule of rules) {
    if (copy.t !== rule.frame) continue;
    for (const field of rule.fields) replaceAt(copy, field.split('.'));
  }
  return copy;
}

/** Replaces the value at `keys` under `target` (every selected element for `name[]`, `name[k=v]`). */
function replaceAt(target: unknown, keys: readonly string[]): void {
  if (!isRecord(target) || keys.length === 0) return;
  const [key, ...rest] = keys as [string, ...string[]];
  const picked = /^(.+)\[(?:([^=\]]+)=([^\]]*))?\]$/.exec(key);
  if (!picked) {
    if (!(key in target)) return;
    if (rest.length === 0) target[key] = NORMALISED;
    else replaceAt(target[key], rest);
    return;
  }
  const [, name, where, equals] = picked;
  const list = target[name!];
  if (!Array.isArray(list)) return;
  list.forEach((element, index) => {
    if (where !== undefined && !(isRecord(element) && element[where] === equals)) return;
    if (rest.length === 0) list[index] = NORMALISED;
    else replaceAt(element, rest);
  });
}

/** One exact line for a message: `type field=value ...` (all fields, binary as text or hex). */
export function describeExact(bytes: Uint8Array, rules: readonly NormalisedField[]): string {
  let decoded: unknown;
  try {
    decoded = normalise(decodeRaw(bytes), rules);
  } catch (error) {
    return `<undecodable ${Buffer.from(bytes).toString('hex')}: ${(error as Error).message}>`;
  }
  if (!isRecord(decoded)) return show(decoded);
  const { t, v, ...fields } = decoded;
  const parts = [typeof t === 'string' ? t : `t=${show(t)}`];
  // The version is on every frame; shown only when it is not the current one (still an exact compare).
  if (v !== PROTOCOL_VERSION) parts.push(`v=${show(v)}`);
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${show(value)}`);
  return parts.join(' ');
}

/** Per connection, in order of first appearance: the lines compared. */
export type Transcript = Map<string, string[]>;

/** The recorded side's outgoing frames and close codes, per connection. */
export function recordedTranscript(lines: readonly RecordLine[], rules: readonly NormalisedField[]): Transcript {
  const transcript: Transcript = new Map();
  const add = (conn: string, line: string) => transcript.set(conn, [...(transcript.get(conn) ?? []), `[${conn}] ${line}`]);
  for (const line of lines) {
    if (line.conn === '-') continue;
    if (!transcript.has(line.conn)) transcript.set(line.conn, []);
    if ('event' in line) {
      if (line.event === 'close') add(line.conn, `close ${closeCode(line.detail)}`);
    } else if (line.dir === 'out') add(line.conn, describeExact(Buffer.from(line.b64, 'base64'), rules));
  }
  return transcript;
}

/** The close code of a recorded `close` event's detail (`4001 BAD_TOKEN`). */
export function closeCode(detail: string): number {
  return Number.parseInt(detail, 10);
}

/** The transcript as text, one block per connection in the order of `conns`. */
export function transcriptText(transcript: Transcript, conns: Iterable<string>): string {
  return [...conns].map((conn) => (transcript.get(conn) ?? [`[${conn}] (nothing)`]).join('\n')).join('\n');
}

function show(value: unknown): string {
  if (value instanceof Uint8Array) {
    const buffer = Buffer.from(value);
    const text = buffer.toString('utf8');
    const printable = Buffer.from(text, 'utf8').equals(buffer) && !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text);
    return printable ? `bytes${JSON.stringify(text)}` : `hex:${buffer.toString('hex')}`;
  }
  if (Array.isArray(value)) return `[${value.map(show).join(',')}]`;
  if (isRecord(value)) return `{${Object.entries(value).map(([key, inner]) => `${JSON.stringify(key)}:${show(inner)}`).join(',')}}`;
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array);
}
