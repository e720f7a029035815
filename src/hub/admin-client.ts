/**
 * The admin side of the websocket, used by `cla-hub exec` (and tests): authenticates with the admin
 * token in the first frame and runs commands on workers as streams of frames.
 */
import { Observable } from 'rxjs';
import { ClaError, ErrorCode, fromWireError } from '../errors.ts';
import { frame, type ExecSpec, type Target } from '../protocol/frames.ts';
import { exchange } from '../transport/exchange.ts';
import type { Transport } from '../transport/transport.ts';
import { connectWs, type ClientTlsOptions } from '../transport/ws-client.ts';
import type { JobEvent } from './job-events.ts';

/** A connected, authenticated admin client. */
export class AdminClient {
  private nextRequest = 0;

  private constructor(private readonly transport: Transport) {}

  /** Connects to the hub and authenticates with the admin token. */
  static async connect(url: string, token: string, tls?: ClientTlsOptions): Promise<AdminClient> {
    const transport = await connectWs(url, { tls, silenceTimeoutMs: 0 });
    try {
      await exchange(transport, frame('admin_hello', { token }), 'welcome');
    } catch (error) {
      transport.close(1000, 'refused');
      throw error;
    }
    return new AdminClient(transport);
  }

  /**
   * Runs a command; the stream ends after `exit` or errors with the hub's error. `signal` sends `cancel`
   * (the command's final output and exit still arrive); unsubscribing also cancels.
   */
  run(target: Target, exec: ExecSpec, options: { waitMs?: number; signal?: AbortSignal } = {}): Observable<JobEvent> {
    return new Observable<JobEvent>((subscriber) => {
      this.nextRequest += 1;
      const re = `r${this.nextRequest}`;
      let finished = false;
      const subscription = this.transport.frames$.subscribe({
        next: (f) => {
          if (!('re' in f) || f.re !== re) return;
          if (f.t === 'dispatched') subscriber.next({ type: 'dispatched', worker: f.worker, job: f.job });
          else if (f.t === 'started') subscriber.next({ type: 'started', pid: f.pid });
          else if (f.t === 'output') subscriber.next({ type: 'output', stream: f.stream, seq: f.seq, data: f.data });
          else if (f.t === 'exit') {
            finished = true;
            subscriber.next({ type: 'exit', code: f.code, signal: f.signal, timedOut: f.timedOut, cancelled: f.cancelled, durationMs: f.durationMs });
            subscriber.complete();
          } else if (f.t === 'error') {
            finished = true;
            subscriber.error(fromWireError(f.error));
          }
        },
        complete: () => {
          if (!finished) subscriber.error(new ClaError(ErrorCode.ConnectionFailed, 'Lost the connection to the hub', { retryable: true }));
        },
      });
      const cancel = () => void this.transport.send(frame('cancel', { re })).catch(() => undefined);
      options.signal?.addEventListener('abort', cancel, { once: true });
      this.transport
        .send(frame('run', { id: re, target, exec, ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }) }))
        .catch((error: unknown) => subscriber.error(error));
      return () => {
        options.signal?.removeEventListener('abort', cancel);
        subscription.unsubscribe();
        if (!finished) cancel();
      };
    });
  }

  close(): void {
    this.transport.close(1000, 'done');
  }
}
