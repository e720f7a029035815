/**
 * Workflow runs across hubs (issue 10): the {@link FleetRuns} of a hub's workflow engine on NATS.
 *
 * - `cla.wf.<hub>.abort` (request/reply): `{run, reason}` in, `{result}` or `{error}` (a wire error) out.
 *   The hub owning a run aborts it as a local `workflow abort` would; "no responders" means that hub is
 *   not on the engine, and the asking hub adopts the run instead (the workflow engine decides).
 * - `cla.wf.ended` (publish): `{workflow}` once a run's end is committed, so that a run waiting on another
 *   hub (`on_conflict: wait`) reads the store again and may start.
 */
import { headers, RequestError, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { ClaError, ErrorCode, fromWireError, toWireError, type WireError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { FleetRuns, TriggerResult, WorkflowEngine } from '../hub/actions/workflow-engine.ts';
import { idToken } from './presence.ts';

const ENDED = 'cla.wf.ended';
const HUB = 'Cla-Hub';
/** How long an abort may take on the owner hub (it answers once the abort is committed), in ms. */
export const ABORT_TIMEOUT_MS = 10_000;

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const decode = <T>(data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as T;

/** One hub's share of the workflow runs across the engine. */
export class ClusterWorkflows implements FleetRuns {
  private readonly subs: Subscription[] = [];
  private engine: WorkflowEngine | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly hubId: string,
    private readonly log: Logger,
  ) {}

  /** Serves `engine`'s runs to the other hubs and gives it this fleet. */
  start(engine: WorkflowEngine): void {
    this.engine = engine;
    this.subs.push(
      this.nc.subscribe(`cla.wf.${idToken(this.hubId)}.abort`, {
        callback: (error, msg) => {
          if (error) return;
          const answer = (body: { result: TriggerResult } | { error: WireError }) => msg.respond(encode(body));
          let request: { run: string; reason: string };
          try {
            request = decode(msg.data);
            if (typeof request.run !== 'string' || typeof request.reason !== 'string') throw new ClaError(ErrorCode.BadFrame, 'Expected `{run, reason}` strings');
          } catch (cause) {
            answer({ error: toWireError(cause) });
            return;
          }
          engine.abort(request.run, request.reason).then(
            (result) => answer({ result }),
            (cause: unknown) => answer({ error: toWireError(cause) }),
          );
        },
      }),
      this.nc.subscribe(ENDED, {
        callback: (error, msg) => {
          if (error || msg.headers?.get(HUB) === this.hubId) return;
          try {
            this.engine?.otherEnded(decode<{ workflow: string }>(msg.data).workflow);
          } catch (cause) {
            this.log.warn({ err: cause }, 'bad run-ended notice from another hub');
          }
        },
      }),
    );
    engine.fleet = this;
  }

  stop(): void {
    if (this.engine?.fleet === this) this.engine.fleet = undefined;
    for (const sub of this.subs.splice(0)) sub.unsubscribe();
  }

  async abort(owner: string, runId: string, reason: string): Promise<TriggerResult | undefined> {
    let reply;
    try {
      reply = await this.nc.request(`cla.wf.${idToken(owner)}.abort`, encode({ run: runId, reason }), { timeout: ABORT_TIMEOUT_MS });
    } catch (error) {
      if (error instanceof RequestError && error.isNoResponders()) return undefined;
      throw new ClaError(ErrorCode.Timeout, `Hub ${owner}, which owns run ${runId}, did not answer the abort in ${ABORT_TIMEOUT_MS} ms; try again`, { retryable: true, cause: error });
    }
    const body = decode<{ result: TriggerResult } | { error: WireError }>(reply.data);
    if ('error' in body) throw fromWireError(body.error);
    return body.result;
  }

  ended(workflow: string): void {
    const h = headers();
    h.set(HUB, this.hubId);
    try {
      this.nc.publish(ENDED, encode({ workflow }), { headers: h });
    } catch (error) {
      // The engine connection is closing (the hub stops): a waiting run elsewhere starts on its own hub's next end.
      this.log.debug({ err: error, workflow }, 'could not tell the other hubs that a run ended');
    }
  }
}
