/**
 * One admin client connection (the `cla-hub exec` CLI, later the dashboard): `run` frames start jobs
 * through `Hub.run()`, their events go back with `re` set to the client's request id, and `cancel` or a
 * dropped connection cancels them.
 */
import type { Subscription } from 'rxjs';
import { toWireError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { frame, type Frame } from '../protocol/frames.ts';
import type { Transport } from '../transport/transport.ts';
import type { Hub } from './hub.ts';

/** Serves one admin connection. */
export class AdminSession {
  private readonly runs = new Map<string, { subscription: Subscription; abort: AbortController }>();

  constructor(
    private readonly transport: Transport,
    private readonly hub: Hub,
    private readonly log: Logger,
  ) {
    const subscription = transport.frames$.subscribe((f) => this.onFrame(f));
    void transport.closed.then(() => {
      subscription.unsubscribe();
      for (const run of this.runs.values()) run.subscription.unsubscribe();
      this.runs.clear();
    });
  }

  private onFrame(f: Frame): void {
    const send = (out: Frame) => void this.transport.send(out).catch(() => undefined);
    switch (f.t) {
      case 'run': {
        if (this.runs.has(f.id)) {
          send(frame('error', { re: f.id, error: { code: 'BAD_FRAME', message: `Request id ${f.id} is already running`, retryable: false } }));
          return;
        }
        const re = f.id;
        const abort = new AbortController();
        const subscription = this.hub.run({ target: f.target, exec: f.exec, waitMs: f.waitMs }, { signal: abort.signal }).subscribe({
          next: (event) => {
            if (event.type === 'dispatched') send(frame('dispatched', { re, worker: event.worker, job: event.job }));
            else if (event.type === 'started') send(frame('started', { re, pid: event.pid }));
            else if (event.type === 'output') send(frame('output', { re, seq: event.seq, stream: event.stream, data: event.data }));
            else send(frame('exit', { re, code: event.code, signal: event.signal, timedOut: event.timedOut, cancelled: event.cancelled, durationMs: event.durationMs }));
          },
          error: (error: unknown) => {
            this.runs.delete(re);
            send(frame('error', { re, error: toWireError(error) }));
          },
          complete: () => this.runs.delete(re),
        });
        if (!subscription.closed) this.runs.set(re, { subscription, abort });
        return;
      }
      case 'cancel': {
        const run = this.runs.get(f.re);
        if (run) {
          // The worker stops the command; its last output and `exit` still come back to this client.
          this.log.info({ request: f.re }, 'admin cancelled a run');
          run.abort.abort();
        }
        return;
      }
      default:
        send(frame('error', { error: { code: 'BAD_FRAME', message: `An admin client may not send \`${f.t}\` frames`, retryable: false } }));
    }
  }
}
