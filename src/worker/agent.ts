/**
 * The worker runtime: the worker machine (machines/worker.machine.ts) given real actions. It dials the
 * hub, says hello, runs `exec` jobs through the exec runner, streams their output back with
 * backpressure, and reconnects with jittered exponential backoff until the hub says never to.
 */
import { VERSION } from '../version.ts';
import os from 'node:os';
import { createActor, type Actor, type EventFromLogic, type StateValue } from 'xstate';
import { workerMachine } from '../../machines/worker.machine.ts';
import { backoffMs, isAcceptingJobs } from '../../machines/worker.helpers.ts';
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import { ClaError, ErrorCode, InvalidArgumentError, toWireError, type WireError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { frame, type AgentInfo, type Frame } from '../protocol/frames.ts';
import { FINAL_CLOSE_CODES } from '../protocol/version.ts';
import type { FrameTap, Transport } from '../transport/transport.ts';
import { connectWs, type ClientTlsOptions } from '../transport/ws-client.ts';
import type { ExecRunnerOptions } from './exec-runner.ts';
import { startEval } from './ops/eval.ts';
import { startExec } from './ops/exec.ts';
import { startFetch } from './ops/fetch.ts';
import type { LeftoverTracker } from './leftovers.ts';
import { proofMessage, prove } from '../protocol/auth-proof.ts';
import type { JobContext, JobFrame, JobStarter, RunningJob } from './ops/job.ts';
import { startProbe } from './ops/probe.ts';
import { startShip } from './ops/ship.ts';
import type { AgentExtension, ExtensionContext } from './agent-extension.ts';
import { checkInteger, checkObject, checkString, checkStringList, invalidOption } from '../option-checks.ts';
import { WorkerPolicy } from './policy.ts';
import { MachineLoad } from './machine-load.ts';
import { WorkLoad } from './work-load.ts';

/** Package version reported in `hello`. */
export const AGENT_VERSION = VERSION;

/**
 * Longest time a `connected.busy` report waits for another frame to leave with, in ms (see
 * `WorkerAgent.stateChanged`): work that lasts longer is shown busy this late at most.
 */
export const BUSY_REPORT_WAIT_MS = 20;

/** Options for {@link WorkerAgent}. */
export interface AgentOptions {
  id: string;
  /** Registration token; may be absent when `psk` is given. */
  token?: string;
  /** Hub-wide pre-shared key, instead of a registration (`--psk`). */
  psk?: string;
  /**
   * Hub websocket URL, or several hubs' URLs: the agent dials them in turn, moving to the next one after
   * each disconnect or failed dial (with the usual jittered backoff between attempts).
   */
  url: string | readonly string[];
  tags?: string[];
  envs?: string[];
  /** Jobs run at once. @default 1 */
  capacity?: number;
  tls?: ClientTlsOptions;
  tap?: FrameTap;
  clock?: Clock;
  log?: Logger;
  /** First reconnect delay in ms. @default 500 */
  backoffBaseMs?: number;
  /** Reconnect delay ceiling in ms. @default 30000 */
  backoffMaxMs?: number;
  /** Time running jobs get to finish on stop, in ms. @default 10000 */
  graceMs?: number;
  /** Pause a job's output above this many bytes queued on the socket. @default 4 MiB */
  highWaterBytes?: number;
  /**
   * Options of the exec runner for `exec` jobs. `baseEnv`, the environment a job's `env` is added to,
   * defaults to a copy of `process.env` taken when the agent is created: a later change of `process.env`
   * does not reach jobs (issue 13: Node reads a live `process.env` variable by variable on every spawn).
   * @default { baseEnv: { ...process.env } }
   */
  exec?: ExecRunnerOptions;
  /** Random source for the backoff jitter. @default Math.random */
  random?: () => number;
  /** Which verbs and paths the hub may use. @default everything */
  policy?: WorkerPolicy;
  /** Features plugged into the worker (action subscriptions, task handlers, plugins). */
  extensions?: AgentExtension[];
  /** How to dial the hub; tests pass an in-memory pair. @default connectWs with the tls/tap options */
  connect?: (url: string) => Promise<Transport>;
  /** Records job process groups and transfer temp files against a crash of this process. @default none */
  leftovers?: LeftoverTracker;
  /** Replaces operations (tests). */
  starters?: Partial<{ [K in JobFrame['t']]: JobStarter<Extract<JobFrame, { t: K }>> }>;
}

/** Why the agent ended. */
export interface AgentExit {
  /** Last close code from the hub, if any. */
  closeCode: number | null;
  /** Why it stopped (the hub's error message when it refused us). */
  reason: string;
  /** The hub's error that ended it, if any (BAD_TOKEN, UNKNOWN_ENV, ...). */
  error: WireError | null;
  /** True when the hub ordered the shutdown (the worker must not be restarted automatically). */
  shutdownByHub: boolean;
}

/** A running worker. */
export class WorkerAgent {
  private readonly actor: Actor<typeof workerMachine>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private transport: Transport | undefined;
  private readonly jobs = new Map<string, RunningJob>();
  /** Jobs, tasks and action handlers: the one count the machine's idle/busy comes from. */
  private readonly load: WorkLoad;
  /** Gives the load's zero crossings to the machine, stepping it only when it has something to decide. */
  private readonly machineLoad: MachineLoad;
  /** Effects (provided actions) the machine has run: a `LOAD` step that ran none may be learned (machine-load.ts). */
  private effects = 0;
  /** The state last sent in a `state` frame on this connection ('' before the first). */
  private reportedState = '';
  /** A `connected.busy` not reported yet: it leaves before the next frame, or when {@link heldTimer} fires. */
  private heldState: string | undefined;
  private heldTimer: unknown;
  /** True while the frames of a turn are being written (the transport's flush hook). */
  private writing = false;
  /**
   * The connection writes each turn's frames together (its flush hook has run): only then can a busy wait
   * for company, a frame of the same turn being sure to take it along (a transport that writes each
   * frame at once reports busy at once, as before).
   */
  private writesTurns = false;
  private readonly stateListeners = new Set<(state: unknown) => void>();
  private readonly extensions: AgentExtension[];
  private readonly extensionContext: ExtensionContext;
  private readonly policy: WorkerPolicy;
  private readonly starters: { [K in JobFrame['t']]: JobStarter<Extract<JobFrame, { t: K }>> };
  private lastError: WireError | null = null;
  /** The hub URLs, and which one the next dial uses. */
  private readonly urls: readonly string[];
  private urlIndex = 0;
  /** The nonce of the current connection's `challenge`, once it arrived. */
  private challenge: string | undefined;
  /** The machine asked for a hello before the challenge arrived. */
  private helloPending = false;
  private shutdownByHub = false;
  private readonly exited: Promise<AgentExit>;
  private resolveExit!: (exit: AgentExit) => void;

  /** @throws InvalidArgumentError for a bad option (see {@link checkAgentOptions}) */
  constructor(private readonly options: AgentOptions) {
    checkAgentOptions(options);
    this.urls = typeof options.url === 'string' ? [options.url] : [...options.url];
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger();
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    const random = options.random ?? Math.random;
    this.policy = options.policy ?? new WorkerPolicy();
    this.extensions = options.extensions ?? [];
    this.extensionContext = {
      workerId: options.id,
      tags: options.tags ?? [],
      clock: this.clock,
      log: this.log,
      send: (f) => this.send(f),
      sendEncoded: (encoded) => {
        this.sendHeldState();
        this.transport?.postEncoded(encoded);
      },
      pause: () => this.transport?.pause(),
      resume: () => this.transport?.resume(),
      trackWork: (kind) => this.load.take(kind),
    };
    this.load = new WorkLoad({ job: options.capacity ?? 1 }, (running) => this.machineLoad.report(running));
    // A plain copy of the environment: Node builds a child's environment from `env` on every spawn, and
    // from the live `process.env` that is one call into C++ per variable (0.05-0.2 ms per job on the exec
    // critical path; bench/RESULTS.md, "exec spawn cost"); from a plain object, a few microseconds.
    const execOptions: ExecRunnerOptions = { baseEnv: { ...process.env }, ...options.exec };
    this.starters = {
      exec: (f, ctx) => startExec(f, ctx, execOptions),
      eval: (f, ctx) => startEval(f, ctx),
      ship: (f, ctx) => startShip(f, ctx),
      fetch: (f, ctx) => startFetch(f, ctx),
      probe: (f, ctx) => startProbe(f, ctx, { tags: options.tags ?? [] }),
      ...options.starters,
    };
    const effect = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A) => {
      this.effects += 1;
      fn(...args);
    };
    this.actor = createActor(
      workerMachine.provide({
        actions: {
          openConnection: effect(() => this.openConnection()),
          sendHello: effect(() => this.sendHelloWhenChallenged()),
          sendBye: effect(({ context }) => this.send(frame('bye', { reason: context.reason ?? 'stopping' }))),
          drainJobs: effect(() => {
            for (const extension of this.extensions) void extension.stop?.();
          }),
          cancelAllJobs: effect(() => {
            for (const job of this.jobs.values()) job.cancel('worker stopping');
          }),
          closeConnection: effect(() => this.transport?.close(1000, 'worker stopping')),
          exitProcess: effect(({ context }) =>
            this.resolveExit({
              closeCode: context.closeCode,
              reason: this.lastError?.message ?? context.reason ?? 'stopped',
              error: this.lastError,
              shutdownByHub: this.shutdownByHub,
            }),
          ),
        },
        delays: {
          // "Full jitter": uniform in [0, cap], so a fleet restarting at once spreads out.
          reconnectDelay: ({ context }) => Math.round(random() * backoffMs(context.attempt, context.backoffBaseMs, context.backoffMaxMs)),
        },
      }),
      {
        input: { id: options.id, token: options.token ?? options.psk, backoffBaseMs: options.backoffBaseMs, backoffMaxMs: options.backoffMaxMs, graceMs: options.graceMs },
        clock: this.clock as never,
      },
    );
    this.machineLoad = new MachineLoad(this.actor, () => this.effects, (value) => this.stateChanged(value), stateName);
  }

  /** Starts the machine and connects; resolves when the worker has shut down. */
  run(): Promise<AgentExit> {
    this.actor.subscribe((snapshot) => this.stateChanged(snapshot.value));
    this.actor.start();
    this.step({ type: 'CONNECT' });
    return this.exited;
  }

  /** Local stop (SIGTERM/SIGINT): stop taking work, let running jobs finish within the grace period. */
  stop(reason = 'stopped by signal'): void {
    this.step({ type: 'STOP', reason });
  }

  /** The transport's flush hook: runs as the frames of a turn are written; what it sends joins them. */
  private readonly beforeWrite = (): void => {
    this.writing = true;
    this.writesTurns = true;
    try {
      this.sendHeldState();
      this.load.settle();
    } finally {
      this.writing = false;
    }
  };

  /**
   * The machine's state changed (a step, or a `LOAD` step taken ahead of it: machine-load.ts). Reported to
   * the hub while connected (management views show it): idle/busy change only when the worker's load
   * reaches or leaves zero (work-load.ts), not per task, and a unit of work taken and released within one
   * turn changes neither.
   *
   * Every state is reported, in order, but `connected.busy` from `connected.idle` waits for company when
   * nothing else is being written: it leaves just before the worker's next frame, or after
   * {@link BUSY_REPORT_WAIT_MS}, whichever comes first. An exec whose hub asked for no `started` writes
   * nothing at its start, so its busy leaves with its `exit` (`state busy`, `exit`, `state idle` in one
   * write) instead of waking the hub beside the command in a write of its own (issue 13).
   */
  private stateChanged(state: StateValue): void {
    for (const listener of this.stateListeners) listener(state);
    const value = stateName(state);
    const top = topStateName(state);
    const online = top === 'connected' || top === 'disabled' || top === 'stopping';
    if (!online || !this.transport?.isOpen()) {
      this.reportedState = ''; // a new connection gets the state again
      this.dropHeldState();
      return;
    }
    if (value === 'connected.busy' && this.reportedState === 'connected.idle' && this.writesTurns && !this.writing && this.heldState === undefined) {
      this.heldState = value;
      this.heldTimer = this.clock.setTimeout(this.sendHeldState, BUSY_REPORT_WAIT_MS);
      return;
    }
    this.sendHeldState();
    if (value === this.reportedState) return;
    this.reportedState = value;
    this.transport.post(frame('state', { value }));
  }

  /** Sends the held `connected.busy` (see {@link stateChanged}), if any, unless it was reported since. */
  private readonly sendHeldState = (): void => {
    const value = this.heldState;
    if (value === undefined) return;
    this.dropHeldState();
    if (value === this.reportedState) return;
    this.reportedState = value;
    this.transport?.post(frame('state', { value }));
  };

  private dropHeldState(): void {
    if (this.heldTimer !== undefined) this.clock.clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
    this.heldState = undefined;
  }

  /**
   * Sends `event` to the machine after any zero crossing of the load not reported yet (work-load.ts
   * reports them at the end of the turn), so the machine decides on the true count.
   */
  private step(event: Exclude<EventFromLogic<typeof workerMachine>, { type: 'LOAD' }>): void {
    this.load.settle();
    this.machineLoad.deliver();
    this.actor.send(event);
  }

  /** The machine's current state value. */
  state(): unknown {
    this.load.settle();
    this.machineLoad.deliver();
    return this.actor.getSnapshot().value;
  }

  /** Subscribes to state changes. */
  onState(listener: (state: unknown) => void): () => void {
    // A listener of its own (not an actor subscription): it also hears the states taken ahead of the machine.
    const once = (state: unknown) => listener(state);
    this.stateListeners.add(once);
    return () => this.stateListeners.delete(once);
  }

  /** The hello for `nonce` (the connection's `challenge`): a proof of the token or the PSK, never the secret. */
  private hello(nonce: string): Frame {
    const info: AgentInfo = {
      version: AGENT_VERSION,
      pid: process.pid,
      user: os.userInfo().username,
      host: os.hostname(),
      platform: `${process.platform}-${process.arch}`,
    };
    const { id, token, psk } = this.options;
    const auth = token === undefined && psk !== undefined ? ('psk' as const) : ('token' as const);
    const secret = (auth === 'psk' ? psk : token) ?? '';
    return frame('hello', {
      id,
      auth,
      // An empty secret cannot be proven; a 1-byte proof of nothing is refused by the hub like a wrong token.
      proof: secret === '' ? '00' : prove(secret, proofMessage(auth === 'psk' ? 'psk' : 'hello', id, nonce)),
      tags: this.options.tags ?? [],
      envs: this.options.envs ?? [],
      caps: [...this.policy.verbs],
      capacity: this.options.capacity ?? 1,
      agent: info,
    });
  }

  /** The machine wants a hello: sent once this connection's `challenge` has arrived (now, or when it does). */
  private sendHelloWhenChallenged(): void {
    if (this.challenge !== undefined) this.send(this.hello(this.challenge));
    else this.helloPending = true;
  }

  private openConnection(): void {
    const dial = this.options.connect ?? ((url: string) => connectWs(url, { tls: this.options.tls, tap: this.options.tap }));
    const url = this.urls[this.urlIndex]!;
    // Whatever ends this connection (a failed dial, a close), the next attempt goes to the next hub.
    const moveOn = () => (this.urlIndex = (this.urlIndex + 1) % this.urls.length);
    this.log.debug({ url, attempt: this.actor.getSnapshot().context.attempt }, 'dialing the hub');
    dial(url).then(
      (transport) => {
        this.log.debug({ url }, 'connection open; sending hello');
        this.transport = transport;
        // The load's zero crossings reach the machine as the turn's frames are written, so a `state`
        // frame leaves with them (an exec's `started` and `exit`, issue 13) and one taken and undone
        // within the turn (a short task, issue 9) sends none; the end of the turn settles them otherwise.
        transport.setFlushHook?.(this.beforeWrite);
        this.writesTurns = false;
        this.challenge = undefined;
        this.helloPending = false;
        // A receiver, not a `frames$` subscription: no rxjs Subject and subscriber chain per frame (issue 9,
        // a broadcast to 1,000 workers). The close is still taken from `closed` below, after the last frame.
        transport.setReceiver({
          receiveFrame: (f) => {
            if (f.t !== 'challenge') return this.onFrame(f);
            if (this.transport !== transport || this.challenge !== undefined) return;
            this.challenge = f.nonce;
            if (this.helloPending) {
              this.helloPending = false;
              this.send(this.hello(f.nonce));
            }
          },
          transportClosed: () => undefined,
        });
        transport.rejects$.subscribe((error) => this.log.warn({ code: error.code }, error.message));
        void transport.closed.then((close) => {
          if (this.transport === transport) this.transport = undefined;
          moveOn();
          const final = FINAL_CLOSE_CODES.has(close.code);
          for (const extension of this.extensions) extension.disconnected?.();
          this.log[final ? 'error' : 'warn']({ code: close.code, reason: close.reason }, 'disconnected from the hub');
          this.step({ type: 'SOCKET_CLOSED', code: close.code, final });
        });
        this.step({ type: 'SOCKET_OPEN' });
      },
      (error: ClaError) => {
        // A TLS setting that cannot work fails the same way every time: stop for good (issue 11).
        const final = error instanceof ClaError && error.code === ErrorCode.TlsConfig;
        if (final) this.lastError = toWireError(error);
        moveOn();
        this.log[final ? 'error' : 'warn']({ url, attempt: this.actor.getSnapshot().context.attempt }, error.message);
        this.step({ type: 'SOCKET_CLOSED', code: 1006, final });
      },
    );
  }

  /** Sends a frame; a held `connected.busy` goes first, so the hub sees the states in their order. */
  private send(f: Frame): void {
    this.sendHeldState();
    this.transport?.post(f);
  }

  private onFrame(f: Frame): void {
    switch (f.t) {
      case 'welcome':
        this.lastError = null;
        this.log.info({ projects: f.projects, disabled: f.disabled }, 'connected to the hub');
        this.log.debug({ heartbeatMs: f.heartbeatMs, tags: this.options.tags ?? [], envs: this.options.envs ?? [], capacity: this.options.capacity ?? 1 }, 'welcomed by the hub');
        // Three missed pings, at the interval this hub announces, and the connection is taken for dead.
        this.transport?.setSilenceTimeout(f.heartbeatMs * 3);
        this.step({ type: 'WELCOME', disabled: f.disabled });
        for (const extension of this.extensions) extension.welcomed?.(this.extensionContext);
        return;
      case 'exec':
      case 'eval':
      case 'ship':
      case 'fetch':
      case 'probe':
        this.startJob(f);
        return;
      case 'chunk':
      case 'credit':
        this.jobs.get(f.re)?.input(f);
        return;
      case 'cancel':
        this.jobs.get(f.re)?.cancel('cancelled by the hub');
        return;
      case 'disable':
        this.log.warn('disabled by the hub: no new jobs until enabled');
        this.step({ type: 'DISABLE' });
        return;
      case 'enable':
        this.log.info('enabled by the hub');
        this.step({ type: 'ENABLE' });
        return;
      case 'shutdown':
        this.log.warn({ reason: f.reason }, 'shutdown requested by the hub');
        this.shutdownByHub = true;
        this.step({ type: 'SHUTDOWN', reason: f.reason });
        return;
      case 'error':
        // Only a connection-level error (no `re`) can be the reason the hub closes on us.
        if (f.re === undefined) this.lastError = f.error;
        this.log.error({ code: f.error.code, re: f.re }, f.error.message);
        return;
      default:
        // A loop, not `some()` with a closure: this is every action's path (issue 9).
        for (const extension of this.extensions) if (extension.frame?.(f, this.extensionContext) === true) return;
        this.log.warn({ type: f.t }, 'unexpected frame from the hub');
    }
  }

  private startJob(f: JobFrame): void {
    const snapshot = this.actor.getSnapshot();
    const refuse = (error: ClaError) => this.send(frame('error', { re: f.id, error: toWireError(error) }));
    if (this.jobs.has(f.id)) {
      refuse(new ClaError(ErrorCode.BadFrame, `Job ${f.id} is already running on this worker`));
      return;
    }
    if (!isAcceptingJobs(snapshot)) {
      const disabled = snapshot.matches('disabled');
      refuse(
        new ClaError(disabled ? ErrorCode.WorkerDisabled : ErrorCode.WorkerBusy, `Worker ${this.options.id} is not taking jobs (${disabled ? 'disabled' : JSON.stringify(snapshot.value)})`, {
          retryable: true,
        }),
      );
      return;
    }
    if (!this.load.hasRoom('job')) {
      refuse(new ClaError(ErrorCode.WorkerBusy, `Worker ${this.options.id} is running ${this.jobs.size} job(s), its capacity`, { retryable: true }));
      return;
    }
    try {
      this.policy.checkVerb(f.t);
    } catch (error) {
      this.log.warn({ job: f.id, verb: f.t }, (error as Error).message);
      refuse(error as ClaError);
      return;
    }
    // A job answers on the connection it came on: after a reconnect the hub has already failed it (WORKER_LOST).
    const origin = this.transport;
    let release: (() => void) | undefined;
    const ctx: JobContext = {
      id: f.id,
      send: (out) => {
        if (this.transport === origin) this.send(out);
        // The job's slot is free once its final frame is out (job.ts): freed now, the `state` frame that
        // may follow leaves in the same write as that frame, not in a second one once `done` settles (issue 13).
        if (release !== undefined && isFinalFrame(out, f.id)) release();
      },
      bufferedBytes: () => this.transport?.bufferedBytes() ?? 0,
      highWaterBytes: this.options.highWaterBytes ?? 4 * 1024 * 1024,
      clock: this.clock,
      log: this.log,
      policy: this.policy,
      leftovers: this.options.leftovers,
    };
    let job: RunningJob;
    try {
      job = this.starters[f.t](f as never, ctx);
    } catch (error) {
      refuse(error instanceof ClaError ? error : new ClaError(ErrorCode.Internal, (error as Error).message, { cause: error }));
      return;
    }
    this.jobs.set(f.id, job);
    release = this.load.take('job');
    const releaseSlot = release;
    this.log.info({ job: f.id, verb: f.t }, 'job started');
    const startedAt = this.clock.now();
    void job.done.then(() => {
      this.log.debug({ job: f.id, verb: f.t, durationMs: this.clock.now() - startedAt }, 'job ended');
      this.jobs.delete(f.id);
      releaseSlot();
    });
  }
}

/** True for the frame that ends job `id`: its `exit`, `result` or `error` (job.ts). */
function isFinalFrame(f: Frame, id: string): boolean {
  return (f.t === 'exit' || f.t === 'result' || f.t === 'error') && f.re === id;
}


/** `{ connected: 'busy' }` -> `connected.busy`. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    // The first key by `for...in`, not `Object.entries()`: no arrays per call, twice per job (issue 13).
    for (const key in value) {
      const inner = (value as Record<string, unknown>)[key];
      return inner === undefined ? key : `${key}.${stateName(inner)}`;
    }
    return '?';
  }
  return String(value);
}

/** `{ connected: 'busy' }` -> `connected`. */
function topStateName(value: StateValue): string {
  if (typeof value === 'string') return value;
  for (const key in value) return key;
  return '?';
}

/**
 * Refuses options the agent cannot work with before it dials: `capacity: 0` would otherwise loop on
 * hello timeouts. @throws InvalidArgumentError naming the option
 */
export function checkAgentOptions(options: AgentOptions): void {
  checkObject('options', options);
  if (checkString('id', options.id) === undefined) throw invalidOption('id', 'a non-empty string', options.id);
  const urls = typeof options.url === 'string' ? [options.url] : Array.isArray(options.url) ? (options.url as unknown[]) : [undefined];
  if (urls.length === 0) throw invalidOption('url', 'a ws:// or wss:// URL, or a non-empty list of them', options.url);
  for (const item of urls) {
    const url = checkString('url', item);
    // A custom `connect` (tests' in-memory pair) may use any scheme.
    if (url === undefined || (options.connect === undefined && !/^wss?:\/\//.test(url))) throw invalidOption('url', 'a ws:// or wss:// URL', item);
  }
  checkString('token', options.token);
  checkString('psk', options.psk);
  if (options.token === undefined && options.psk === undefined && options.connect === undefined) {
    throw new InvalidArgumentError('Expected `token` (a registration) or `psk` (the hub\'s pre-shared key), got neither', { data: { option: 'token' } });
  }
  checkStringList('tags', options.tags);
  checkStringList('envs', options.envs);
  checkInteger('capacity', options.capacity, 1, 1, 10_000);
  const base = checkInteger('backoffBaseMs', options.backoffBaseMs, 500, 1);
  const max = checkInteger('backoffMaxMs', options.backoffMaxMs, 30_000, 1);
  if (max < base) throw invalidOption('backoffMaxMs', `at least \`backoffBaseMs\` (${base})`, max);
  checkInteger('graceMs', options.graceMs, 10_000, 0);
  checkInteger('highWaterBytes', options.highWaterBytes, 4 * 1024 * 1024, 1);
}
