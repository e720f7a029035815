/**
 * The mapping between {@link JobEvent}s and the frames that carry them to an admin client, where `re` is
 * the client's request id. Used by both ends (admin-session.ts on the hub, admin-client.ts).
 */
import { frame, type Frame } from '../protocol/frames.ts';
import type { JobEvent } from './job-events.ts';

/** The frame that carries `event` for request `re`. */
export function jobEventFrame(re: string, event: JobEvent): Frame {
  switch (event.type) {
    case 'dispatched':
      return frame('dispatched', { re, worker: event.worker, job: event.job });
    case 'started':
      return frame('started', { re, pid: event.pid });
    case 'output':
      return frame('output', { re, seq: event.seq, stream: event.stream, data: event.data });
    case 'exit':
      return frame('exit', { re, code: event.code, signal: event.signal, timedOut: event.timedOut, cancelled: event.cancelled, durationMs: event.durationMs });
    case 'credit':
      return frame('credit', { re, bytes: event.bytes });
    case 'file':
      return frame('file', { re, size: event.size, mode: event.mode });
    case 'chunk':
      return frame('chunk', { re, seq: event.seq, data: event.data });
    case 'result':
      return frame('result', { re, value: event.value, durationMs: event.durationMs });
  }
}

/** The job event a frame carries, or `undefined` for frames that are not job events. */
export function frameJobEvent(f: Frame): JobEvent | undefined {
  switch (f.t) {
    case 'dispatched':
      return { type: 'dispatched', worker: f.worker, job: f.job };
    case 'started':
      return { type: 'started', pid: f.pid };
    case 'output':
      return { type: 'output', stream: f.stream, seq: f.seq, data: f.data };
    case 'exit':
      return { type: 'exit', code: f.code, signal: f.signal, timedOut: f.timedOut, cancelled: f.cancelled, durationMs: f.durationMs };
    case 'credit':
      return { type: 'credit', bytes: f.bytes };
    case 'file':
      return { type: 'file', size: f.size, mode: f.mode };
    case 'chunk':
      return { type: 'chunk', seq: f.seq, data: f.data };
    case 'result':
      return { type: 'result', value: f.value, durationMs: f.durationMs };
    default:
      return undefined;
  }
}

/** True for the events after which a job's stream completes. */
export function isFinalEvent(event: JobEvent): boolean {
  return event.type === 'exit' || event.type === 'result';
}
