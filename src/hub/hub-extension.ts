/**
 * How features beyond plain jobs (the action bus, workflows, the task dispatcher, resources) plug into
 * the hub without the hub knowing them: they see sessions come and go, receive the worker frames of the
 * types they declare, and contribute methods to the hub's method table.
 *
 * Frames are routed by type (issue 8): every extension that lists a type in `workerFrames` gets each
 * frame of it, in no particular order, so no extension depends on its place in the list (`subscribe`
 * goes to both the task dispatcher and the action bus).
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { Frame, FrameType } from '../protocol/frames.ts';
import type { MethodDefinition } from './methods/method-table.ts';
import type { WorkerSession } from './worker-session.ts';

/** What an extension gets from the hub when it starts. */
export interface HubContext {
  readonly clock: Clock;
  readonly log: Logger;
}

/** A hub feature. Every member is optional. */
export interface HubExtension {
  /** Called by `Hub.start()` before it listens. */
  start?(hub: HubContext): Promise<void> | void;
  /** Called by `Hub.stop()` after the listener closed. */
  stop?(): Promise<void> | void;
  /** A worker connected and was welcomed. */
  sessionAdded?(session: WorkerSession): void;
  /** A worker's connection closed. */
  sessionClosed?(session: WorkerSession): void;
  /** The worker frame types this extension handles (beyond what the session handles itself). */
  readonly workerFrames?: readonly FrameType[];
  /** A frame of one of the {@link workerFrames} types from a worker. */
  workerFrame?(session: WorkerSession, frame: Frame): void;
  /** Methods this extension adds to the hub's method table (called once, when the hub is built). */
  methods?(): MethodDefinition[];
}

/** Routes worker frames to the extensions that declared their type. */
export class WorkerFrameRouter {
  private readonly routes = new Map<FrameType, HubExtension[]>();

  constructor(extensions: readonly HubExtension[]) {
    for (const extension of extensions) {
      for (const type of extension.workerFrames ?? []) {
        const list = this.routes.get(type) ?? [];
        list.push(extension);
        this.routes.set(type, list);
      }
    }
  }

  /** Delivers a frame; false when no extension takes its type (the session answers BAD_FRAME). */
  route(session: WorkerSession, frame: Frame): boolean {
    const targets = this.routes.get(frame.t);
    if (!targets) return false;
    for (const extension of targets) extension.workerFrame?.(session, frame);
    return true;
  }
}
