/**
 * Routing of admin requests between hubs (issue 10): the hub holding a worker's socket answers for it
 * ("routing by interest", ../../shared/STYLE.md). Each hub subscribes to `cla.w.<worker>.run` and
 * `cla.w.<worker>.manage` for the workers it holds; a hub asked to run a job on a worker it does not hold
 * sends the `run` frame there. A worker nobody holds fails at once with NO_WORKER (NATS "no responders").
 *
 * One run over NATS, between the asking hub (A) and the holder (B):
 * - A subscribes to an events inbox and sends a request to `cla.w.<worker>.run` with the `run` frame and,
 *   in headers, the inbox and a control subject. B subscribes to the control subject, answers the request
 *   (an empty `result` frame: accepted), and runs the job as its own (`Hub.run` on its local session).
 * - B publishes each job event to the inbox as the frame an admin client would get (job-frames.ts), then
 *   `exit`/`result` or an `error` frame. A decodes them with the frame schemas.
 * - A publishes input to the control subject: ship `chunk`s, `credit` (fetch, or exec output when the
 *   caller sets `outputCredit`), `taken` (exec output passed on), `abort` (cancel, final events still
 *   come), `cancel` (the caller went away).
 * Flow control is the jobs' own, end to end: B runs with `reportsTaken`, and A reports output as taken
 * only when its own caller did, so at most one output window (and one transfer window) is between the
 * worker and the admin client, whatever NATS buffers.
 */
import { Observable } from 'rxjs';
import { createInbox, headers, RequestError, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { ClaError, ErrorCode, fromWireError, toWireError, type WireError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { decodeFrame, encodeFrame } from '../protocol/codec.ts';
import { frame, type Frame } from '../protocol/frames.ts';
import type { JobEvent, JobInput, RunRequest } from '../hub/job-events.ts';
import { frameJobEvent, isFinalEvent, jobEventFrame } from '../hub/job-frames.ts';
import type { RunOptions } from '../hub/job-runner.ts';
import type { ManageOrder } from '../hub/hub-cluster.ts';
import { idToken } from './presence.ts';


/** What the routing needs from the local hub. */
export interface LocalRunner {
  /** Whether this hub holds a live session of the worker now. */
  holds(workerId: string): boolean;
  /** Runs a job on this hub's own sessions (never routed again). */
  runLocal(request: RunRequest, options: RunOptions): Observable<JobEvent>;
  /** Applies a management order to the local session of `workerId`. */
  manageLocal(workerId: string, order: ManageOrder): void;
}

/** Runs served for other hubs at once; more are refused with WORKER_BUSY. */
export const MAX_REMOTE_RUNS = 1024;

/** How long the asking hub waits for the holder to accept a run, in ms. */
export const ACCEPT_TIMEOUT_MS = 10_000;

const OP = 'Cla-Op';
const EVENTS = 'Cla-Events';
const CONTROL = 'Cla-Control';
const FROM_HUB = 'Cla-Hub';

/** `cla.w.<worker>.<verb>`: the subjects the holder of a worker answers. */
export function workerSubject(workerId: string, verb: 'run' | 'manage'): string {
  return `cla.w.${idToken(workerId)}.${verb}`;
}

/** Serves the workers this hub holds and sends requests for the others. */
export class Router {
  private readonly held = new Map<string, Subscription[]>();
  /** Runs served for other hubs: cancelled when their hub is gone. */
  private readonly serving = new Map<string, { fromHub: string; cancel: (error?: WireError) => void }>();
  /** Runs this hub asked of another hub: failed when that hub is gone. */
  private readonly asking = new Map<string, { holderHub: () => string | undefined; fail: (error: ClaError) => void }>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly hubId: string,
    private readonly local: LocalRunner,
    private readonly log: Logger,
  ) {}

  /** This hub now holds `workerId`: answer its subjects. */
  serve(workerId: string): void {
    this.unserve(workerId);
    const run = this.nc.subscribe(workerSubject(workerId, 'run'), { callback: (error, msg) => (error ? undefined : this.onRun(workerId, msg)) });
    const manage = this.nc.subscribe(workerSubject(workerId, 'manage'), {
      callback: (error, msg) => {
        if (error || !this.local.holds(workerId)) return;
        try {
          this.local.manageLocal(workerId, JSON.parse(new TextDecoder().decode(msg.data)) as ManageOrder);
        } catch (cause) {
          this.log.warn({ err: cause, worker: workerId }, 'bad management order from another hub');
        }
      },
    });
    this.held.set(workerId, [run, manage]);
  }

  /** This hub no longer holds `workerId`. */
  unserve(workerId: string): void {
    for (const sub of this.held.get(workerId) ?? []) sub.unsubscribe();
    this.held.delete(workerId);
  }

  /** Sends a management order to whichever hub holds the worker (fire and forget). */
  manage(workerId: string, order: ManageOrder): void {
    this.publish(workerSubject(workerId, 'manage'), new TextEncoder().encode(JSON.stringify(order)));
  }

  /** A hub stopped or died: runs it served for us fail, runs we serve for it are cancelled. */
  hubGone(hubId: string): void {
    // The asking hub may only look dead (a stalled event loop): it is told, so that it does not wait forever.
    const lost = { code: ErrorCode.WorkerLost, message: `Hub ${this.hubId} took hub ${hubId} for dead and stopped the job`, retryable: true };
    for (const run of [...this.serving.values()]) if (run.fromHub === hubId) run.cancel(lost);
    for (const run of [...this.asking.values()]) {
      if (run.holderHub() === hubId) run.fail(new ClaError(ErrorCode.WorkerLost, `Hub ${hubId}, which held the worker, is gone`, { retryable: true }));
    }
  }

  /** Stops serving every worker and cancels the runs served for other hubs. */
  stop(): void {
    for (const workerId of [...this.held.keys()]) this.unserve(workerId);
    for (const run of [...this.serving.values()]) run.cancel();
  }

  /**
   * Runs `request` (targeting one worker) on the hub that holds it. `holderHub` names that hub as
   * presence knows it until one accepts the run (the accepting hub then), so that its death fails the run
   * with WORKER_LOST.
   */
  runRemote(request: RunRequest & { target: { worker: string } }, options: RunOptions, holderHub: () => string | undefined): Observable<JobEvent> {
    return new Observable<JobEvent>((subscriber) => {
      const runId = crypto.randomUUID();
      const inbox = createInbox();
      const control = `cla.ctl.${idToken(this.hubId)}.${runId}`;
      let accepted = false;
      let done = false;
      const early: Array<[string, Uint8Array | undefined]> = [];
      const send = (op: string, data?: Uint8Array) => {
        if (done && op !== 'cancel') return;
        if (!accepted) {
          early.push([op, data]);
          return;
        }
        const h = headers();
        h.set(OP, op);
        this.publish(control, data ?? new Uint8Array(0), { headers: h });
      };
      const finish = () => {
        done = true;
        events.unsubscribe();
        this.asking.delete(runId);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const fail = (error: ClaError) => {
        if (done) return;
        finish();
        subscriber.error(error);
      };
      // The hub that accepted the run, once it did: the worker may move on to another hub after that hub
      // died, and presence then names the new one, which knows nothing of this run.
      let acceptedBy: string | undefined;
      // The holder may only look dead: it is told to stop, so that its job does not wait for credit forever.
      this.asking.set(runId, {
        holderHub: () => acceptedBy ?? holderHub(),
        fail: (error) => {
          send('cancel');
          fail(error);
        },
      });
      const events = this.nc.subscribe(inbox, {
        callback: (error, msg) => {
          if (error || done) return;
          let f: Frame;
          try {
            f = decodeFrame(msg.data);
          } catch (cause) {
            fail(new ClaError(ErrorCode.Internal, `Bad frame from the hub holding ${request.target.worker}: ${(cause as Error).message}`, { cause }));
            return;
          }
          if (f.t === 'error') {
            fail(fromWireError(f.error));
            return;
          }
          const event = frameJobEvent(f);
          if (!event) return;
          if (isFinalEvent(event)) finish();
          subscriber.next(event);
          // A caller that does not report what it took takes output as it is emitted (job-runner.ts).
          if (event.type === 'output' && !options.reportsTaken) send('taken', text(event.data.byteLength));
          if (done) subscriber.complete();
        },
      });
      const onAbort = () => send('abort');
      options.cancelWith?.(onAbort);
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      options.onInput?.({
        chunk: (seq, data, sha256) => {
          send('chunk', encodeFrame(frame('chunk', { re: runId, seq, data, ...(sha256 === undefined ? {} : { sha256 }) })));
          return Promise.resolve();
        },
        credit: (bytes) => send('credit', text(bytes)),
        taken: (bytes) => send('taken', text(bytes)),
      } satisfies JobInput);
      const h = headers();
      h.set(EVENTS, inbox);
      h.set(CONTROL, control);
      h.set(FROM_HUB, this.hubId);
      const run = frame('run', {
        id: runId,
        target: request.target,
        job: request.job,
        ...(request.waitMs === undefined ? {} : { waitMs: request.waitMs }),
        ...(options.outputCredit === undefined ? {} : { outputCredit: options.outputCredit }),
      });
      this.nc.request(workerSubject(request.target.worker, 'run'), encodeFrame(run), { timeout: ACCEPT_TIMEOUT_MS, headers: h }).then(
        (reply) => {
          const answer = decodeFrame(reply.data);
          if (answer.t === 'error') {
            fail(fromWireError(answer.error));
            return;
          }
          accepted = true;
          acceptedBy = reply.headers?.get(FROM_HUB) || undefined;
          for (const [op, data] of early.splice(0)) send(op, data);
        },
        (error: unknown) => {
          const noResponders = error instanceof RequestError && error.isNoResponders();
          fail(
            new ClaError(
              ErrorCode.NoWorker,
              noResponders
                ? `No hub holds worker ${request.target.worker}: it is not connected. Start it with \`cla-worker run --id ${request.target.worker}\`.`
                : `The hub holding worker ${request.target.worker} did not accept the job in ${ACCEPT_TIMEOUT_MS} ms (the worker may be moving between hubs)`,
              { retryable: true, cause: error },
            ),
          );
        },
      );
      return () => {
        if (!done) {
          send('cancel');
          finish();
        }
      };
    });
  }

  /**
   * Publishes, unless the engine connection is closed or draining (the hub stopping, or the engine lost):
   * nobody could be told then, and the client would throw into a job's teardown and end the process.
   */
  private publish(subject: string, data: Uint8Array, options?: { headers: MsgHdrs }): void {
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    this.nc.publish(subject, data, options);
  }

  /** A run request from another hub for a worker this hub holds. */
  private onRun(workerId: string, msg: { data: Uint8Array; headers?: MsgHdrs; respond(data?: Uint8Array, options?: { headers?: MsgHdrs }): boolean }): void {
    // Between a worker's move and the old hub's unsubscribe both hubs get the request: only the holder answers.
    if (!this.local.holds(workerId)) return;
    const events = msg.headers?.get(EVENTS) ?? '';
    const control = msg.headers?.get(CONTROL) ?? '';
    const fromHub = msg.headers?.get(FROM_HUB) ?? '';
    let f: Frame;
    try {
      f = decodeFrame(msg.data);
      if (f.t !== 'run' || events === '' || control === '') throw new ClaError(ErrorCode.BadFrame, 'Expected a `run` frame with events and control subjects');
    } catch (error) {
      msg.respond(encodeFrame(frame('error', { error: toWireError(error) })));
      return;
    }
    if (this.serving.size >= MAX_REMOTE_RUNS) {
      msg.respond(encodeFrame(frame('error', { re: f.id, error: { code: ErrorCode.WorkerBusy, message: `Hub ${this.hubId} is serving ${MAX_REMOTE_RUNS} runs for other hubs`, retryable: true } })));
      return;
    }
    const runId = f.id;
    const abort = new AbortController();
    let input: JobInput | undefined;
    const publish = (out: Frame) => this.publish(events, encodeFrame(out));
    const controlSub = this.nc.subscribe(control, {
      callback: (error, m) => {
        if (error) return;
        const op = m.headers?.get(OP);
        if (op === 'chunk') {
          const chunk = decodeFrame(m.data);
          if (chunk.t === 'chunk') void input?.chunk(chunk.seq, chunk.data, chunk.sha256);
        } else if (op === 'credit') input?.credit(Number(new TextDecoder().decode(m.data)));
        else if (op === 'taken') input?.taken?.(Number(new TextDecoder().decode(m.data)));
        else if (op === 'abort') abort.abort();
        else if (op === 'cancel') end();
      },
    });
    const end = (error?: WireError) => {
      if (error && this.serving.has(runId)) publish(frame('error', { re: runId, error }));
      controlSub.unsubscribe();
      subscription?.unsubscribe();
      this.serving.delete(runId);
    };
    this.serving.set(runId, { fromHub, cancel: end });
    const accepted = headers();
    accepted.set(FROM_HUB, this.hubId);
    msg.respond(encodeFrame(frame('result', { re: runId, value: null, durationMs: 0 })), { headers: accepted });
    const { target, job, waitMs } = f;
    let subscription: ReturnType<Observable<JobEvent>['subscribe']> | undefined;
    subscription = this.local
      .runLocal({ target, job, ...(waitMs === undefined ? {} : { waitMs }) }, { signal: abort.signal, onInput: (i) => (input = i), outputCredit: f.outputCredit, reportsTaken: true })
      .subscribe({
        next: (event) => publish(jobEventFrame(runId, event)),
        error: (error: unknown) => {
          publish(frame('error', { re: runId, error: toWireError(error) }));
          end();
        },
        complete: () => end(),
      });
    if (!this.serving.has(runId)) subscription.unsubscribe(); // it ended synchronously
  }
}

function text(n: number): Uint8Array {
  return new TextEncoder().encode(String(n));
}
