/**
 * Chooses the worker for each run: the oldest connected session that matches the target (worker id, all
 * tags, env, project), is enabled and has a free slot. When matching workers exist but are all busy, the
 * request waits in a bounded FIFO queue until one frees up or its wait runs out.
 */
import type { Clock } from '../clock.ts';
import { ClaError, ErrorCode } from '../errors.ts';
import type { Target } from '../protocol/frames.ts';
import type { WorkerSession } from './worker-session.ts';

/** How a session relates to a target. */
export type MatchResult = 'free' | 'busy' | 'disabled' | 'denied' | 'no';

/** Whether `session` can serve `target` now; `kind` is the job's verb, which the worker must allow. */
export function matchSession(session: WorkerSession, target: Target, kind?: string): MatchResult {
  const info = session.info;
  if (session.isClosed() || session.isLeaving()) return 'no';
  if (target.worker !== undefined && info.workerId !== target.worker) return 'no';
  if (target.tags && !target.tags.every((tag) => info.tags.includes(tag))) return 'no';
  // A worker that declared no envs is not limited to any; one that did serves only those.
  if (target.env !== undefined && info.envs.length > 0 && !info.envs.includes(target.env)) return 'no';
  if (target.project !== undefined && !info.projects.includes(target.project)) return 'no';
  if (kind !== undefined && !info.caps.includes(kind)) return 'denied';
  if (session.isDisabled()) return 'disabled';
  return session.hasFreeSlot() ? 'free' : 'busy';
}

interface Waiter {
  target: Target;
  kind: string | undefined;
  deadline: number;
  timer: unknown;
  grant: (session: WorkerSession) => void;
  fail: (error: ClaError) => void;
}

/** Options for {@link Dispatcher}. */
export interface DispatcherOptions {
  /** Requests allowed to wait at once. @default 10000 */
  maxWaiting?: number;
}

/** Hands sessions to run requests. */
export class Dispatcher {
  private readonly waiting: Waiter[] = [];
  private readonly maxWaiting: number;

  constructor(
    private readonly sessions: () => Iterable<WorkerSession>,
    private readonly clock: Clock,
    options: DispatcherOptions = {},
  ) {
    this.maxWaiting = options.maxWaiting ?? 10_000;
  }

  /** Requests waiting for a free worker. */
  depth(): number {
    return this.waiting.length;
  }

  /**
   * Finds a session for `target`, now or within `waitMs`. Calls exactly one of `grant`/`fail`, unless the
   * returned cancel function is called first.
   */
  request(
    target: Target,
    waitMs: number,
    grant: (session: WorkerSession) => void,
    fail: (error: ClaError) => void,
    kind?: string,
  ): () => void {
    const found = this.find(target, kind);
    if (found.session) {
      grant(found.session);
      return () => undefined;
    }
    if (found.busy === 0) {
      fail(noWorkerError(target, found, kind));
      return () => undefined;
    }
    if (this.waiting.length >= this.maxWaiting) {
      fail(new ClaError(ErrorCode.NoWorker, `${this.waiting.length} requests are already waiting for a worker; try again later`, { retryable: true }));
      return () => undefined;
    }
    const waiter: Waiter = { target, kind, deadline: this.clock.now() + waitMs, timer: undefined, grant, fail };
    waiter.timer = this.clock.setTimeout(() => {
      this.remove(waiter);
      fail(new ClaError(ErrorCode.WorkerBusy, `Every worker matching ${describeTarget(target)} stayed busy for ${waitMs} ms`, { retryable: true, data: { waitMs } }));
    }, waitMs);
    this.waiting.push(waiter);
    return () => {
      if (this.remove(waiter)) this.clock.clearTimeout(waiter.timer);
    };
  }

  /** Re-checks the queue; call when a session frees a slot, connects, or is enabled. */
  pump(): void {
    for (const waiter of [...this.waiting]) {
      const found = this.find(waiter.target, waiter.kind);
      if (found.session) {
        this.remove(waiter);
        this.clock.clearTimeout(waiter.timer);
        waiter.grant(found.session);
      } else if (found.busy === 0) {
        this.remove(waiter);
        this.clock.clearTimeout(waiter.timer);
        waiter.fail(noWorkerError(waiter.target, found, waiter.kind));
      }
    }
  }

  private find(target: Target, kind: string | undefined): Found {
    const found: Found = { busy: 0, disabled: 0, denied: [] };
    for (const session of this.sessions()) {
      const result = matchSession(session, target, kind);
      if (result === 'free') return { ...found, session };
      if (result === 'busy') found.busy += 1;
      if (result === 'disabled') found.disabled += 1;
      if (result === 'denied') found.denied.push(session.info.workerId);
    }
    return found;
  }

  private remove(waiter: Waiter): boolean {
    const index = this.waiting.indexOf(waiter);
    if (index < 0) return false;
    this.waiting.splice(index, 1);
    return true;
  }
}

/** Describes a target for messages: `worker myworker`, `tags [java]`, ... */
export function describeTarget(target: Target): string {
  const parts: string[] = [];
  if (target.worker !== undefined) parts.push(`worker ${target.worker}`);
  if (target.tags?.length) parts.push(`tags [${target.tags.join(', ')}]`);
  if (target.env !== undefined) parts.push(`env ${target.env}`);
  if (target.project !== undefined) parts.push(`project ${target.project}`);
  return parts.length ? parts.join(', ') : 'any worker';
}

/**
 * UNKNOWN_ENV for a target naming an environment the hub does not have: a typo (names are
 * case-sensitive) or a missing `cla-hub env add`, which "no connected worker matches" would hide.
 * Checked before dispatching, so a worker that serves every env (declared none) does not run it either.
 */
export async function unknownEnvError(target: Target, missingEnvs: (names: string[]) => Promise<string[]>, knownEnvs: () => Promise<string[]>): Promise<ClaError | undefined> {
  if (target.env === undefined || (await missingEnvs([target.env])).length === 0) return undefined;
  const known = await knownEnvs();
  return new ClaError(
    ErrorCode.UnknownEnv,
    `Environment ${target.env} does not exist on the hub (names are case-sensitive; ${known.length ? `known: ${known.join(', ')}` : 'none yet'}). Create it with \`cla-hub env add ${target.env}\`, then start workers with \`--env ${target.env}\`.`,
    { data: { env: target.env, known } },
  );
}

interface Found {
  session?: WorkerSession;
  busy: number;
  disabled: number;
  /** Matching workers whose policy refuses the job's verb. */
  denied: string[];
}

function noWorkerError(target: Target, found: Found, kind: string | undefined): ClaError {
  const { disabled } = found;
  if (found.denied.length > 0 && disabled === 0) {
    return new ClaError(ErrorCode.PolicyDenied, `Worker${found.denied.length > 1 ? 's' : ''} ${found.denied.join(', ')} matching ${describeTarget(target)} do${found.denied.length > 1 ? '' : 'es'} not allow \`${kind}\` (see its --allow/--deny)`, {
      data: { workers: found.denied, verb: kind ?? null },
    });
  }
  if (disabled > 0 && target.worker !== undefined) {
    return new ClaError(ErrorCode.WorkerDisabled, `Worker ${target.worker} is disabled: enable it before sending it jobs`, { data: { worker: target.worker } });
  }
  const extra = disabled > 0 ? ` (${disabled} matching worker(s) are disabled)` : '';
  return new ClaError(ErrorCode.NoWorker, `No connected worker matches ${describeTarget(target)}${extra}. Start one with \`cla-worker run${target.worker !== undefined ? ` --id ${target.worker}` : ''}${target.tags?.length ? ` --tags ${target.tags.join(',')}` : ''}\`.`, {
    retryable: true,
    data: { disabled },
  });
}
