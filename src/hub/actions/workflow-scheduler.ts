/**
 * Cron triggers. `croner` only evaluates the expressions (`nextRun`); the timers are the injected
 * {@link Clock}'s, so tests drive the schedule with a simulated clock. Times are the hub's local time.
 */
import { Cron } from 'croner';
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../logger.ts';
import type { WorkflowDefinition } from './workflow-definitions.ts';

/** setTimeout's ceiling (2^31 - 1 ms, about 24.8 days); a later run is reached in hops. */
const MAX_TIMER_MS = 2_147_483_647;

export class CronScheduler {
  private readonly timers = new Set<unknown>();
  private running = false;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly fire: (workflow: string, expression: string) => unknown,
    /**
     * Several hubs (issue 10): resolves true for exactly one of the hubs asking for the same slot key
     * (`workflow`, expression, planned time); only that hub fires. @default every slot is this hub's
     */
    private readonly claimSlot?: (slot: string) => Promise<boolean>,
  ) {}

  /** Schedules every cron trigger of the workflows. */
  start(workflows: Iterable<WorkflowDefinition>): void {
    this.running = true;
    for (const workflow of workflows) {
      for (const trigger of workflow.triggers) {
        if (trigger.kind === 'cron') this.schedule(workflow.name, trigger.cron, new Cron(trigger.cron, { paused: true }), this.clock.now());
      }
    }
  }

  stop(): void {
    this.running = false;
    for (const timer of this.timers) this.clock.clearTimeout(timer);
    this.timers.clear();
  }

  /** The next time a cron expression fires after `after` (ms), or null. */
  static next(expression: string, after: number): number | null {
    return new Cron(expression, { paused: true }).nextRun(new Date(after))?.getTime() ?? null;
  }

  private fireOnce(workflow: string, expression: string, slot: number): void {
    const fire = () => {
      this.log.info({ workflow, cron: expression }, 'cron trigger');
      const failed = (error: unknown) => this.log.error({ err: error, workflow }, 'cron trigger failed');
      try {
        void Promise.resolve(this.fire(workflow, expression)).catch(failed);
      } catch (error) {
        failed(error);
      }
    };
    if (!this.claimSlot) return fire();
    this.claimSlot(JSON.stringify([workflow, expression, slot])).then(
      (mine) => {
        if (mine && this.running) fire();
        else if (!mine) this.log.debug({ workflow, cron: expression, slot }, 'cron slot fired by another hub');
      },
      (error: unknown) => this.log.error({ err: error, workflow }, 'could not claim the cron slot; not firing it'),
    );
  }

  private schedule(workflow: string, expression: string, cron: Cron, after: number): void {
    if (!this.running) return;
    const next = cron.nextRun(new Date(after))?.getTime();
    if (next === undefined) return;
    const arm = (): void => {
      const wait = next - this.clock.now();
      const timer = this.clock.setTimeout(
        () => {
          this.timers.delete(timer);
          if (!this.running) return;
          if (this.clock.now() < next) return arm(); // a hop of a long wait
          this.fireOnce(workflow, expression, next);
          // From the planned time, not from now: a late timer does not skip or repeat a run.
          this.schedule(workflow, expression, cron, Math.max(next, this.clock.now() - 1));
        },
        Math.max(0, Math.min(wait, MAX_TIMER_MS)),
      );
      this.timers.add(timer);
    };
    arm();
  }
}
