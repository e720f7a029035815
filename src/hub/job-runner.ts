/**
 * One job from request to end: wait for a worker (dispatcher), record the start, send the job, relay
 * what the worker reports as {@link JobEvent}s, record the end, and free the slot. Input towards the job
 * (ship bytes, fetch credit) goes through the {@link JobInput} handed to `onInput`.
 */
import { Observable } from 'rxjs';
import type { Clock } from '../clock.ts';
import { ClaError, ErrorCode } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { JobKind, JobOutcome } from '../store/store.ts';
import type { Dispatcher } from './dispatcher.ts';
import { OUTPUT_WINDOW_BYTES } from '../protocol/version.ts';
import { OutputFlow } from './output-flow.ts';
import { OutputTail } from './output-tail.ts';
import type { JobEvent, JobInput, RunRequest } from './job-events.ts';
import type { JobFinish, JobStart } from './registry.ts';
import type { WorkerSession } from './worker-session.ts';
import { ShipCreditRelay } from './transfer-relay.ts';
import { TRANSFER_WINDOW_BYTES } from '../worker/ops/transfer-io.ts';
import { holdTransferHeapGrowth } from '../gc-policy.ts';

/** Options of one run. */
export interface RunOptions {
  /** Cancels the job; its final events still arrive. */
  signal?: AbortSignal;
  /**
   * Called once when the run is subscribed, with a function that cancels it as `signal`'s abort does: for a
   * caller that would make an AbortController per run only for that (the admin session: ~15 µs of the
   * hub's CPU per run, most of it before the job leaves; issue 13).
   */
  cancelWith?: (cancel: () => void) => void;
  /** Called once the job is on a worker, with the way to send it input (ship bytes, fetch credit). */
  onInput?: (input: JobInput) => void;
  /**
   * Exec output the caller takes before it grants more with `JobInput.credit` (an admin `run` with
   * `outputCredit`). Absent: the caller does not grant; see `reportsTaken`.
   */
  outputCredit?: number;
  /**
   * True when the caller reports exec output it has passed on with `JobInput.taken` (the admin session:
   * once its socket wrote it out); otherwise output counts as taken when emitted. See output-flow.ts.
   */
  reportsTaken?: boolean;
  /**
   * `false`: the caller has no use for an exec's `started` event (an admin `run` with `started: false`). The
   * worker is told not to send it (issue 13: one write of the worker and one wake of the hub fewer per
   * job, while the command runs); one from an older worker is still passed on, so a caller must take it
   * either way. @default the `started` event is sent
   */
  started?: false;
}

/** How a job ended for metrics: its stored outcome, or `refused` when no worker took it. */
export type JobEndOutcome = JobOutcome | 'refused';

/** Hooks for metrics (metrics.ts); each call is cheap and must not throw. */
export interface JobObserver {
  /** The job went to a worker `waitedMs` after it was requested. */
  dispatched(kind: JobKind, waitedMs: number): void;
  /** The job ended (once per job, dispatched or not). */
  ended(kind: JobKind, outcome: JobEndOutcome): void;
  /** Payload bytes moved for the job: ship chunks to the worker; fetch chunks and exec output from it. */
  bytes(direction: 'to_worker' | 'from_worker', kind: JobKind, bytes: number): void;
}

/** What {@link runJob} needs from the hub. */
export interface JobRunnerDeps {
  dispatcher: Dispatcher;
  clock: Clock;
  log: Logger;
  newId: () => string;
  defaultWaitMs: number;
  /** Output bytes kept per job in the store. */
  storedOutputBytes: number;
  /** Records a job's start; an asynchronous store's promise rejects when the write fails (the job then ends with that error). */
  recordStart: (job: JobStart) => void | Promise<void>;
  /** Stores a job's end; resolves once it is committed, or once its failure is logged (it never rejects). */
  recordEnd: (jobId: string, end: JobFinish) => Promise<void>;
  observer?: JobObserver;
  /** Refuses a target before it is dispatched (e.g. UNKNOWN_ENV); undefined lets it through. */
  checkTarget?: (target: RunRequest['target']) => ClaError | undefined | Promise<ClaError | undefined>;
}

/** The job's description as stored: the command of an exec, the path of a transfer, ... */
function describeJob(request: RunRequest): unknown {
  const job = request.job;
  switch (job.kind) {
    case 'exec':
      return job.cmd;
    case 'eval':
      return job.code.length > 2000 ? `${job.code.slice(0, 2000)}…` : job.code;
    case 'ship':
      return { path: job.path, size: job.size, sha256: job.sha256 };
    case 'fetch':
      return { path: job.path };
    case 'probe':
      return { check: job.check, path: job.path, tags: job.tags };
  }
}

/** Runs one job; see `Hub.run`. */
export function runJob(deps: JobRunnerDeps, request: RunRequest, options: RunOptions = {}): Observable<JobEvent> {
  return new Observable<JobEvent>((subscriber) => {
    const jobId = deps.newId();
    const kind = request.job.kind;
    const requestedAt = deps.clock.now();
    // A relayed transfer's buffers must not drive the hub's GC into a mark-compact loop (see gc-policy.ts).
    // Released when the run ends, whichever way (rxjs runs the subscriber's finalizers on error, complete
    // and unsubscribe), including a refusal before dispatch.
    if (kind === 'ship' || kind === 'fetch') subscriber.add(holdTransferHeapGrowth());
    let session: WorkerSession | undefined;
    let flow: OutputFlow | undefined;
    let done = false;
    const tail = new OutputTail(deps.storedOutputBytes);
    const refused = () => {
      done = true;
      deps.observer?.ended(kind, 'refused');
    };
    /**
     * Ends the job once. The worker's slot is free at once; the caller is told (`emit`) only once the job's
     * end is committed to the store (issue 9: nobody is told of a change that a crash could still undo), so
     * `cla-hub jobs` run right after an exec lists it ended. A failed write is logged by `recordEnd` and
     * the caller is still told.
     */
    const end = (outcome: JobOutcome, fields: Partial<JobFinish> = {}, emit?: () => void) => {
      if (done) return;
      done = true;
      const at = deps.clock.now();
      deps.observer?.ended(kind, outcome);
      const stored = deps.recordEnd(jobId, { at, exitCode: null, signal: null, outcome, output: tail.bytes(), outputBytes: tail.total, ...fields });
      deps.dispatcher.pump();
      if (emit) void stored.then(emit);
    };
    // A ship's credit passes through the hub only within one window of bytes held here (issue 11, case 3).
    const relay = kind === 'ship' ? new ShipCreditRelay(TRANSFER_WINDOW_BYTES, (bytes) => subscriber.next({ type: 'credit', bytes })) : undefined;
    const dispatch = (): (() => void) => deps.dispatcher.request(
      request.target,
      request.waitMs ?? deps.defaultWaitMs,
      (granted) => {
        session = granted;
        const workerId = granted.info.workerId;
        let recorded: void | Promise<void>;
        try {
          recorded = deps.recordStart({ id: jobId, workerId, kind: request.job.kind, command: describeJob(request), at: deps.clock.now() });
        } catch (error) {
          refused();
          deps.log.error({ err: error, job: jobId, worker: workerId }, 'could not record the job; not sending it');
          subscriber.error(error);
          deps.dispatcher.pump();
          return;
        }
        deps.observer?.dispatched(kind, deps.clock.now() - requestedAt);
        deps.log.info({ job: jobId, worker: workerId, kind: request.job.kind }, 'job dispatched');
        if (kind === 'exec') {
          // A credit to a worker that left: the job ends with WORKER_LOST through the session, not here.
          flow = new OutputFlow(OUTPUT_WINDOW_BYTES, (bytes) => void granted.feed(jobId, { credit: bytes }).catch(() => undefined), options.outputCredit);
        }
        granted.assign(jobId, request.job, {
          started: (pid) => subscriber.next({ type: 'started', pid }),
          output: (stream, seq, data) => {
            deps.observer?.bytes('from_worker', kind, data.byteLength);
            tail.push(data);
            flow?.received(data.byteLength);
            subscriber.next({ type: 'output', stream, seq, data });
            if (!options.reportsTaken) flow?.taken(data.byteLength);
          },
          credit: (bytes) => (relay ? relay.credit(bytes) : subscriber.next({ type: 'credit', bytes })),
          file: (size, mode) => subscriber.next({ type: 'file', size, mode }),
          chunk: (seq, data, received) => {
            deps.observer?.bytes('from_worker', kind, data.byteLength);
            subscriber.next({ type: 'chunk', seq, data, frame: received });
          },
          exit: (code, signal, timedOut, cancelled, durationMs) => {
            end(timedOut ? 'timeout' : cancelled ? 'cancelled' : code === 0 ? 'ok' : 'failed', { exitCode: code, signal }, () => {
              subscriber.next({ type: 'exit', code, signal, timedOut, cancelled, durationMs });
              subscriber.complete();
            });
          },
          result: (value, durationMs) => {
            end('ok', {}, () => {
              subscriber.next({ type: 'result', value, durationMs });
              subscriber.complete();
            });
          },
          fail: (error) => {
            const outcome: JobOutcome =
              error.code === ErrorCode.WorkerLost ? 'lost' : error.code === ErrorCode.Cancelled ? 'cancelled' : error.code === ErrorCode.Timeout ? 'timeout' : 'error';
            end(outcome, { errorCode: error.code }, () => subscriber.error(error));
          },
        }, { outputCredit: flow?.initial(), started: options.started });
        // Told after the job frame is handed to the worker's socket (issue 13): each socket writes its
        // frames of this turn on the next tick in the order they were first written, so the job leaves
        // before the caller's `dispatched` instead of behind its write. Nothing reaches a sink in this turn.
        subscriber.next({ type: 'dispatched', worker: workerId, job: jobId });
        // The start is written in the store's next commit (the slot must be taken now, in this turn): if that
        // write fails, the job stops on the worker and ends with the store's error.
        recorded?.catch((error: unknown) => {
          deps.log.error({ err: error, job: jobId, worker: workerId }, 'could not record the job; stopping it');
          const code = error instanceof ClaError ? error.code : ErrorCode.Internal;
          end('error', { errorCode: code }, () => {
            granted.cancel(jobId);
            subscriber.error(error);
          });
        });
        options.onInput?.({
          chunk: (seq, data, sha256, received) => {
            if (done) return Promise.resolve();
            try {
              relay?.chunk(seq, data.byteLength);
            } catch (error) {
              // The sender ignored the credit it was given: stop the job on the worker and fail it here.
              const failure = error as ClaError;
              end('error', { errorCode: failure.code }, () => {
                granted.cancel(jobId);
                subscriber.error(failure);
              });
              return Promise.resolve();
            }
            deps.observer?.bytes('to_worker', kind, data.byteLength);
            return granted.feed(jobId, { seq, data, ...(sha256 === undefined ? {} : { sha256 }), ...(received === undefined ? {} : { received }) }).then(
              () => relay?.forwarded(data.byteLength),
              () => undefined,
            );
          },
          credit: (bytes) => (flow ? flow.consumerGranted(bytes) : void granted.feed(jobId, { credit: bytes }).catch(() => undefined)),
          taken: (bytes) => flow?.taken(bytes),
        });
      },
      (error) => {
        refused();
        subscriber.error(error);
      },
      request.job.kind,
    );
    let cancelWait: () => void = () => undefined;
    // The env check reads the store: asynchronous when the target names an env.
    const refusal = deps.checkTarget?.(request.target);
    const refuse = (error: unknown) => {
      refused();
      subscriber.error(error);
    };
    if (refusal instanceof Promise) {
      refusal.then(
        (found) => {
          if (done) return;
          if (found) refuse(found);
          else cancelWait = dispatch();
        },
        (error: unknown) => !done && refuse(error),
      );
    } else if (refusal) {
      refuse(refusal);
      return undefined;
    } else cancelWait = dispatch();
    const onAbort = () => {
      if (done) return;
      if (session) {
        session.cancel(jobId);
        return;
      }
      cancelWait();
      refused();
      subscriber.error(new ClaError(ErrorCode.Cancelled, 'Cancelled while waiting for a worker'));
    };
    options.cancelWith?.(onAbort);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    return () => {
      options.signal?.removeEventListener('abort', onAbort);
      cancelWait();
      if (!done && session) {
        session.cancel(jobId);
        flow?.release(); // nobody takes its output any more: the worker must not wait for credit
      } else if (!done) refused(); // the caller gave up while waiting for a worker
    };
  });
}
