/**
 * The store writes the workflow engine has issued and not yet seen committed. The run and step machines
 * are synchronous, so their actions issue writes without awaiting them (the stores apply calls in call
 * order, see ./workflow-store.ts); this keeps the promises so that a failure is logged, never lost, and
 * so that an admin is answered (`workflows.run`, `workflows.abort`) and the hub stops only once what
 * came before is durable.
 */
import type { Logger } from '../../logger.ts';

export class PendingWrites {
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  /** Keeps `write` until it settles; a failure is logged with `what` and `context`. */
  track(write: Promise<unknown>, what: string, context: Record<string, unknown> = {}): void {
    const settled: Promise<void> = write.then(
      () => {
        this.inflight.delete(settled);
      },
      (error: unknown) => {
        this.inflight.delete(settled);
        this.log.error({ err: error, ...context }, `could not store ${what}`);
      },
    );
    this.inflight.add(settled);
  }

  /**
   * Resolves once every write issued so far has settled (committed or logged as failed). Writes issued
   * later are not waited for, so a busy hub still answers.
   */
  async settled(): Promise<void> {
    await Promise.all([...this.inflight]);
  }

  /** Resolves once no write is in flight, those issued meanwhile included (stopping: nothing new comes). */
  async drained(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }
}
