/**
 * The worker runtime: the worker machine (machines/worker.machine.ts) given real actions. It dials the
 * hub, says hello, runs `exec` jobs through the exec runner, streams their output back with
 * backpressure, and reconnects with jittered exponential backoff until the hub says never to.
 */
import os from 'node:os';
import { createActor, type Actor } from 'xstate';
import { workerMachine } from '../../machines/worker.machine.ts';
import { backoffMs, isAcceptingJobs } from '../../machines/worker.helpers.ts';
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import { ClaError, ErrorCode, toWireError, type WireError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { frame, type AgentInfo, type Frame, type FrameOf } from '../protocol/frames.ts';
import { FINAL_CLOSE_CODES } from '../protocol/version.ts';
import type { FrameTap, Transport } from '../transport/transport.ts';
import { connectWs, type ClientTlsOptions } from '../transport/ws-client.ts';
import { runExec, type ExecHandle, type ExecRunnerOptions } from './exec-runner.ts';

/** Package version reported in `hello`. */
export const AGENT_VERSION = '0.1.0';

/** Options for {@link WorkerAgent}. */
export interface AgentOptions {
  id: string;
  token: string;
  /** Hub websocket URL. */
  url: string;
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
  exec?: ExecRunnerOptions;
  /** Random source for the backoff jitter. @default Math.random */
  random?: () => number;
}

/** Why the agent ended. */
export interface AgentExit {
  /** Last close code from the hub, if any. */
  closeCode: number | null;
  /** Why it stopped (the hub's error message when it refused us). */
  reason: string;
  /** The hub's error that ended it, if any (BAD_TOKEN, UNKNOWN_ENV, ...). */
  error: WireError | null;
}

/** A running worker. */
export class WorkerAgent {
  private readonly actor: Actor<typeof workerMachine>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private transport: Transport | undefined;
  private readonly jobs = new Map<string, ExecHandle>();
  private lastError: WireError | null = null;
  private readonly exited: Promise<AgentExit>;
  private resolveExit!: (exit: AgentExit) => void;

  constructor(private readonly options: AgentOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger();
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    const random = options.random ?? Math.random;
    this.actor = createActor(
      workerMachine.provide({
        actions: {
          openConnection: () => this.openConnection(),
          sendHello: () => this.send(this.hello()),
          sendBye: ({ context }) => this.send(frame('bye', { reason: context.reason ?? 'stopping' })),
          drainJobs: () => undefined,
          cancelAllJobs: () => {
            for (const job of this.jobs.values()) job.cancel('worker stopping');
          },
          closeConnection: () => this.transport?.close(1000, 'worker stopping'),
          exitProcess: ({ context }) =>
            this.resolveExit({ closeCode: context.closeCode, reason: this.lastError?.message ?? context.reason ?? 'stopped', error: this.lastError }),
        },
        delays: {
          // "Full jitter": uniform in [0, cap], so a fleet restarting at once spreads out.
          reconnectDelay: ({ context }) => Math.round(random() * backoffMs(context.attempt, context.backoffBaseMs, context.backoffMaxMs)),
        },
      }),
      {
        input: { id: options.id, token: options.token, backoffBaseMs: options.backoffBaseMs, backoffMaxMs: options.backoffMaxMs, graceMs: options.graceMs },
        clock: this.clock as never,
      },
    );
  }

  /** Starts the machine and connects; resolves when the worker has shut down. */
  run(): Promise<AgentExit> {
    this.actor.start();
    this.actor.send({ type: 'CONNECT' });
    return this.exited;
  }

  /** Local stop (SIGTERM/SIGINT): stop taking work, let running jobs finish within the grace period. */
  stop(reason = 'stopped by signal'): void {
    this.actor.send({ type: 'STOP', reason });
  }

  /** The machine's current state value. */
  state(): unknown {
    return this.actor.getSnapshot().value;
  }

  /** Subscribes to state changes. */
  onState(listener: (state: unknown) => void): () => void {
    const subscription = this.actor.subscribe((snapshot) => listener(snapshot.value));
    return () => subscription.unsubscribe();
  }

  private hello(): Frame {
    const info: AgentInfo = {
      version: AGENT_VERSION,
      pid: process.pid,
      user: os.userInfo().username,
      host: os.hostname(),
      platform: `${process.platform}-${process.arch}`,
    };
    return frame('hello', {
      id: this.options.id,
      token: this.options.token,
      tags: this.options.tags ?? [],
      envs: this.options.envs ?? [],
      caps: ['exec'],
      capacity: this.options.capacity ?? 1,
      agent: info,
    });
  }

  private openConnection(): void {
    connectWs(this.options.url, { tls: this.options.tls, tap: this.options.tap }).then(
      (transport) => {
        this.transport = transport;
        transport.frames$.subscribe((f) => this.onFrame(f));
        transport.rejects$.subscribe((error) => this.log.warn({ code: error.code }, error.message));
        void transport.closed.then((close) => {
          if (this.transport === transport) this.transport = undefined;
          const final = FINAL_CLOSE_CODES.has(close.code);
          this.log[final ? 'error' : 'warn']({ code: close.code, reason: close.reason }, 'disconnected from the hub');
          this.actor.send({ type: 'SOCKET_CLOSED', code: close.code, final });
        });
        this.actor.send({ type: 'SOCKET_OPEN' });
      },
      (error: ClaError) => {
        this.log.warn({ attempt: this.actor.getSnapshot().context.attempt }, error.message);
        this.actor.send({ type: 'SOCKET_CLOSED', code: 1006, final: false });
      },
    );
  }

  private send(f: Frame): void {
    this.transport?.send(f).catch(() => undefined);
  }

  private onFrame(f: Frame): void {
    switch (f.t) {
      case 'welcome':
        this.lastError = null;
        this.log.info({ projects: f.projects, disabled: f.disabled }, 'connected to the hub');
        this.actor.send({ type: 'WELCOME', disabled: f.disabled });
        return;
      case 'exec':
        this.startJob(f);
        return;
      case 'cancel':
        this.jobs.get(f.re)?.cancel('cancelled by the hub');
        return;
      case 'disable':
        this.log.warn('disabled by the hub: no new jobs until enabled');
        this.actor.send({ type: 'DISABLE' });
        return;
      case 'enable':
        this.log.info('enabled by the hub');
        this.actor.send({ type: 'ENABLE' });
        return;
      case 'shutdown':
        this.log.warn({ reason: f.reason }, 'shutdown requested by the hub');
        this.actor.send({ type: 'SHUTDOWN', reason: f.reason });
        return;
      case 'error':
        this.lastError = f.error;
        this.log.error({ code: f.error.code, re: f.re }, f.error.message);
        return;
      default:
        this.log.warn({ type: f.t }, 'unexpected frame from the hub');
    }
  }

  private startJob(f: FrameOf<'exec'>): void {
    const snapshot = this.actor.getSnapshot();
    const refuse = (code: ErrorCode, message: string) => this.send(frame('error', { re: f.id, error: { code, message, retryable: true } }));
    if (!isAcceptingJobs(snapshot)) {
      refuse(snapshot.matches('disabled') ? ErrorCode.WorkerDisabled : ErrorCode.WorkerBusy, `Worker ${this.options.id} is not taking jobs (${JSON.stringify(snapshot.value)})`);
      return;
    }
    if (this.jobs.size >= (this.options.capacity ?? 1)) {
      refuse(ErrorCode.WorkerBusy, `Worker ${this.options.id} is running ${this.jobs.size} job(s), its capacity`);
      return;
    }
    const { id, v: _v, t: _t, ...spec } = f;
    const handle = runExec(spec, { clock: this.clock, ...this.options.exec });
    this.jobs.set(id, handle);
    this.actor.send({ type: 'JOB_STARTED', jobId: id });
    this.log.info({ job: id }, 'job started');
    const highWater = this.options.highWaterBytes ?? 4 * 1024 * 1024;
    let paused = false;
    const relieve = () => {
      if (!paused) return;
      if ((this.transport?.bufferedBytes() ?? 0) < highWater / 2) {
        paused = false;
        handle.resume();
      } else this.clock.setTimeout(relieve, 10);
    };
    const finish = () => {
      this.jobs.delete(id);
      this.actor.send({ type: 'JOB_FINISHED', jobId: id });
    };
    handle.events$.subscribe({
      next: (event) => {
        if (event.type === 'started') this.send(frame('started', { re: id, pid: event.pid }));
        else if (event.type === 'output') {
          this.send(frame('output', { re: id, seq: event.seq, stream: event.stream, data: event.data }));
          if (!paused && (this.transport?.bufferedBytes() ?? 0) > highWater) {
            paused = true;
            handle.pause();
            this.clock.setTimeout(relieve, 10);
          }
        } else {
          this.log.info({ job: id, code: event.code, signal: event.signal }, 'job finished');
          this.send(frame('exit', { re: id, code: event.code, signal: event.signal, timedOut: event.timedOut, cancelled: event.cancelled, durationMs: event.durationMs }));
        }
      },
      error: (error: unknown) => {
        this.log.warn({ job: id }, (error as Error).message);
        this.send(frame('error', { re: id, error: toWireError(error) }));
        finish();
      },
      complete: finish,
    });
  }
}
