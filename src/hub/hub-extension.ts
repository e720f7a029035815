/**
 * How features beyond plain jobs (the action bus, workflows, the task dispatcher, resources) plug into
 * the hub without the hub knowing them: they see sessions come and go and the worker frames the session
 * does not handle itself.
 */
import type { Frame } from '../protocol/frames.ts';
import type { Hub } from './hub.ts';
import type { WorkerSession } from './worker-session.ts';

/** A hub feature. Every method is optional. */
export interface HubExtension {
  /** Called by `Hub.start()` before it listens. */
  start?(hub: Hub): Promise<void> | void;
  /** Called by `Hub.stop()` after the listener closed. */
  stop?(): Promise<void> | void;
  /** A worker connected and was welcomed. */
  sessionAdded?(session: WorkerSession): void;
  /** A worker's connection closed. */
  sessionClosed?(session: WorkerSession): void;
  /** A frame from a worker that the session does not handle itself; return true when handled. */
  workerFrame?(session: WorkerSession, frame: Frame): boolean;
}
