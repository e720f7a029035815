/**
 * Prints a recording (see src/transport/recorder.ts) as a readable conversation: one line per frame
 * with the time since the first line, the connection, the direction and the frame's fields. Binary data
 * is shown as text when it is printable UTF-8; secrets (token, passkey) are masked.
 */
import { decodeRaw, decodeValue } from '../protocol/codec.ts';
import type { RecordLine } from './recorder.ts';

const SECRET_KEYS = new Set(['token', 'passkey', 'psk']);

/** Formats each recording line; `role` is `hub` or `worker` (from the recording's meta line). */
export function formatRecording(lines: RecordLine[]): string[] {
  const start = lines[0]?.at ?? 0;
  let role = 'hub';
  const out: string[] = [];
  for (const entry of lines) {
    const time = `+${((entry.at - start) / 1000).toFixed(3)}s`.padStart(10);
    if ('event' in entry) {
      if (entry.event === 'meta') {
        let recorder: string | undefined;
        try {
          recorder = (JSON.parse(entry.detail) as { role?: string }).role;
        } catch {
          // an unreadable meta line is printed as it is
        }
        if (recorder !== undefined) {
          role = recorder;
          out.push(`${time}  recording by ${role}`);
        } else out.push(`${time}  note ${entry.detail}`);
      } else out.push(`${time}  [${entry.conn}] connection ${entry.event} ${entry.detail}`);
      continue;
    }
    const arrow = entry.dir === 'in' ? `${role === 'hub' ? 'peer' : 'hub'} → ${role}` : `${role} → ${role === 'hub' ? 'peer' : 'hub'}`;
    let body: string;
    try {
      body = describeFrame(decodeRaw(Buffer.from(entry.b64, 'base64')));
    } catch (error) {
      body = `<undecodable: ${(error as Error).message}>`;
    }
    out.push(`${time}  [${entry.conn}] ${arrow}  ${body}`);
  }
  return out;
}

/** `exec id=j1 cmd="ls -l"`-style summary of a decoded frame. */
export function describeFrame(value: unknown): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return JSON.stringify(value);
  const record = value as Record<string, unknown>;
  const type = typeof record.t === 'string' ? record.t : '?';
  const fields = Object.entries(record)
    .filter(([key]) => key !== 't' && key !== 'v')
    .map(([key, field]) => `${key}=${isTaskValue(type, key) ? showTaskBytes(field) : show(key, field)}`);
  return [type, ...fields].join(' ');
}

/** A task's data or result: msgpack bytes inside the frame (protocol v3), shown as the value they hold. */
const isTaskValue = (type: string, key: string): boolean => (type === 'task_push' && key === 'data') || (type === 'task_done' && key === 'result');

function showTaskBytes(value: unknown): string {
  if (!(value instanceof Uint8Array)) return show('', value);
  try {
    return `msgpack(${show('', decodeValue(value))})`;
  } catch {
    return show('', value);
  }
}

function show(key: string, value: unknown): string {
  if (SECRET_KEYS.has(key)) return '***';
  if (value instanceof Uint8Array) {
    const text = Buffer.from(value).toString('utf8');
    const printable = !/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text);
    return printable ? JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text) : `<${value.length} bytes>`;
  }
  return JSON.stringify(value, (_key, inner: unknown) => (inner instanceof Uint8Array ? `<${inner.length} bytes>` : inner));
}
