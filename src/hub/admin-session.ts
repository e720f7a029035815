/**
 * One admin client connection (the `cla-hub` CLI, later the dashboard): `run` frames start jobs through
 * `Hub.run()` and their events go back with `re` set to the client's request id; `chunk`/`credit` from
 * the client feed a running ship/fetch; `cancel` or a dropped connection cancels.
 */
import type { Subscription } from 'rxjs';
import { ErrorCode, toWireError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { frame, type Frame } from '../protocol/frames.ts';
import type { Transport } from '../transport/transport.ts';
import type { JobInput } from './job-events.ts';
import { jobEventFrame } from './job-frames.ts';
import type { Hub } from './hub.ts';

interface AdminRun {
  subscription: Subscription;
  abort: AbortController;
  input?: JobInput;
}

/** Serves one admin connection. */
export class AdminSession {
  private readonly runs = new Map<string, AdminRun>();

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

  private send(out: Frame): void {
    void this.transport.send(out).catch(() => undefined);
  }

  private onFrame(f: Frame): void {
    switch (f.t) {
      case 'run':
        this.startRun(f.id, f);
        return;
      case 'chunk':
        void this.runs.get(f.re)?.input?.chunk(f.seq, f.data, f.sha256);
        return;
      case 'credit':
        this.runs.get(f.re)?.input?.credit(f.bytes);
        return;
      case 'cancel': {
        const run = this.runs.get(f.re);
        if (run) {
          // The worker stops the job; its last output and its end still come back to this client.
          this.log.info({ request: f.re }, 'admin cancelled a run');
          run.abort.abort();
        }
        return;
      }
      default:
        this.send(frame('error', { error: { code: ErrorCode.BadFrame, message: `An admin client may not send \`${f.t}\` frames`, retryable: false } }));
    }
  }

  private startRun(re: string, f: Extract<Frame, { t: 'run' }>): void {
    if (this.runs.has(re)) {
      this.send(frame('error', { re, error: { code: ErrorCode.BadFrame, message: `Request id ${re} is already running`, retryable: false } }));
      return;
    }
    const run: AdminRun = { abort: new AbortController() } as AdminRun;
    this.runs.set(re, run);
    run.subscription = this.hub
      .run(
        { target: f.target, job: f.job, waitMs: f.waitMs },
        { signal: run.abort.signal, onInput: (input) => (run.input = input), outputCredit: f.outputCredit, reportsTaken: true },
      )
      .subscribe({
        next: (event) => {
          if (event.type !== 'output') {
            this.send(jobEventFrame(re, event));
            return;
          }
          // Output counts as taken once this socket wrote it out: a client that stops reading stops the
          // worker (output-flow.ts), instead of the hub queueing for it.
          const bytes = event.data.byteLength;
          void this.transport.send(jobEventFrame(re, event)).then(
            () => run.input?.taken?.(bytes),
            () => undefined,
          );
        },
        error: (error: unknown) => {
          this.runs.delete(re);
          this.send(frame('error', { re, error: toWireError(error) }));
        },
        complete: () => this.runs.delete(re),
      });
  }
}
