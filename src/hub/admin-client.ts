/**
 * The admin side of the websocket, used by every `cla-hub` command that concerns a running hub (and
 * tests): authenticates with the admin token in the first frame, calls and watches the hub's methods
 * (`call` / `watch`, see src/hub/methods/method-table.ts), and runs jobs on workers as streams of frames.
 */
import { Observable } from 'rxjs';
import { ClaError, ErrorCode, fromWireError } from '../errors.ts';
import { frame, type JobSpec, type Target } from '../protocol/frames.ts';
import { proofMessage, prove } from '../protocol/auth-proof.ts';
import { exchange } from '../transport/exchange.ts';
import type { Transport } from '../transport/transport.ts';
import { connectWs, type ClientTlsOptions } from '../transport/ws-client.ts';
import type { JobEvent, JobInput } from './job-events.ts';
import { frameJobEvent, isFinalEvent } from './job-frames.ts';

/** A connected, authenticated admin client. */
export class AdminClient {
  private nextRequest = 0;

  private constructor(private readonly transport: Transport) {}

  /**
   * Connects to the hub and authenticates with the admin token. With `expectHubId`, a server that does
   * not announce that id is left before the token is sent (HUB_MISMATCH).
   */
  static async connect(url: string, token: string, tls?: ClientTlsOptions, options: { expectHubId?: string } = {}): Promise<AdminClient> {
    const transport = await connectWs(url, { tls, silenceTimeoutMs: 0, expectHubId: options.expectHubId });
    try {
      await exchange(transport, (nonce) => frame('admin_hello', { proof: prove(token, proofMessage('admin', '', nonce)) }), 'welcome');
    } catch (error) {
      transport.close(1000, 'refused');
      throw error;
    }
    return new AdminClient(transport);
  }

  /**
   * Runs a job; the stream ends after `exit` or `result`, or errors with the hub's error. `signal` sends
   * `cancel` (the job's final events still arrive); unsubscribing also cancels. `onInput` receives the
   * way to send ship bytes and fetch credit once the job is dispatched.
   */
  run(
    target: Target,
    job: JobSpec,
    options: {
      waitMs?: number;
      signal?: AbortSignal;
      onInput?: (input: JobInput) => void;
      /** Exec output this client takes before it grants more with `input.credit` (protocol.md "Output flow control"). */
      outputCredit?: number;
      /**
       * `false`: the hub is asked not to send the job's `started` event (`run.started`, issue 13: one frame and
       * one wake of this process fewer per run). A hub before that field still sends it. @default true
       */
      started?: boolean;
    } = {},
  ): Observable<JobEvent> {
    return new Observable<JobEvent>((subscriber) => {
      this.nextRequest += 1;
      const re = `r${this.nextRequest}`;
      let finished = false;
      /** Where this run's chunks are addressed: the job id once the hub confirmed `chunksByJob`, else `re`. */
      let chunkRe = re;
      const send = (f: Parameters<Transport['send']>[0]) => void this.transport.send(f).catch(() => undefined);
      const subscription = this.transport.frames$.subscribe({
        next: (f) => {
          if (!('re' in f) || (f.re !== re && !(f.t === 'chunk' && f.re === chunkRe))) return;
          if (f.t === 'dispatched' && f.chunksByJob === true) chunkRe = f.job;
          if (f.t === 'error') {
            finished = true;
            subscriber.error(fromWireError(f.error));
            return;
          }
          const event = frameJobEvent(f);
          if (!event) return;
          if (event.type === 'dispatched') {
            options.onInput?.({
              // The chunk's promise resolves once the socket took it (ship paces on it); it rejects only on a
              // closed connection, which ends this run with its own error, so the rejection itself is dropped.
              chunk: (seq, data, sha256) => this.transport.send(frame('chunk', { re: chunkRe, seq, data, ...(sha256 === undefined ? {} : { sha256 }) })).catch(() => undefined), // closed: the run ends on its own
              credit: (bytes) => send(frame('credit', { re, bytes })),
            });
          }
          subscriber.next(event);
          if (isFinalEvent(event)) {
            finished = true;
            subscriber.complete();
          }
        },
        complete: () => {
          if (!finished) subscriber.error(new ClaError(ErrorCode.ConnectionFailed, 'Lost the connection to the hub', { retryable: true }));
        },
      });
      const cancel = () => send(frame('cancel', { re }));
      options.signal?.addEventListener('abort', cancel, { once: true });
      this.transport
        .send(
          frame('run', {
            id: re,
            target,
            job,
            ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
            ...(options.outputCredit === undefined ? {} : { outputCredit: options.outputCredit }),
            ...(options.started === false ? { started: false as const } : {}),
            // The hub may then forward this run's chunks as they came, both ways (protocol.md `run`).
            ...(job.kind === 'ship' || job.kind === 'fetch' ? { chunksByJob: true as const } : {}),
          }),
        )
        .catch((error: unknown) => subscriber.error(error));
      return () => {
        options.signal?.removeEventListener('abort', cancel);
        subscription.unsubscribe();
        if (!finished) cancel();
      };
    });
  }

  /** Calls a method of the hub's method table; rejects with the hub's error (UNKNOWN_METHOD, ...). */
  call<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.nextRequest += 1;
      const re = `c${this.nextRequest}`;
      const subscription = this.transport.frames$.subscribe({
        next: (f) => {
          if (!('re' in f) || f.re !== re) return;
          if (f.t === 'error') reject(fromWireError(f.error));
          else if (f.t === 'result') resolve(f.value as T);
          else return;
          subscription.unsubscribe();
        },
        complete: () => reject(new ClaError(ErrorCode.ConnectionFailed, `Lost the connection to the hub during \`${method}\``, { retryable: true })),
      });
      this.transport.send(frame('call', { id: re, method, params })).catch((error: unknown) => {
        subscription.unsubscribe();
        reject(error);
      });
    });
  }

  /**
   * Watches a method of the hub: its values until the hub ends the stream (completes) or refuses it
   * (errors). Unsubscribing sends `cancel`.
   */
  watch<T = unknown>(method: string, params: Record<string, unknown> = {}): Observable<T> {
    return new Observable<T>((subscriber) => {
      this.nextRequest += 1;
      const re = `w${this.nextRequest}`;
      let finished = false;
      const subscription = this.transport.frames$.subscribe({
        next: (f) => {
          if (!('re' in f) || f.re !== re) return;
          if (f.t === 'event') subscriber.next(f.value as T);
          else if (f.t === 'error') {
            finished = true;
            subscriber.error(fromWireError(f.error));
          } else if (f.t === 'result') {
            finished = true;
            subscriber.complete();
          }
        },
        complete: () => {
          if (!finished) subscriber.error(new ClaError(ErrorCode.ConnectionFailed, `Lost the connection to the hub during \`${method}\``, { retryable: true }));
        },
      });
      this.transport.send(frame('watch', { id: re, method, params })).catch((error: unknown) => subscriber.error(error));
      return () => {
        subscription.unsubscribe();
        // Unsubscribing on a closed connection: the hub already dropped the watch with it.
        if (!finished) void this.transport.send(frame('cancel', { re })).catch(() => undefined);
      };
    });
  }

  /** Bytes queued on the connection to the hub (callers pause file reads above a watermark). */
  bufferedBytes(): number {
    return this.transport.bufferedBytes();
  }

  close(): void {
    this.transport.close(1000, 'done');
  }
}
