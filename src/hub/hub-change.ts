/** What `Hub.changes$` tells management views (kept apart so parts need not import the hub). */

/** Something management views care about changed. */
export interface HubChange {
  type: 'connected' | 'disconnected' | 'state' | 'job-started' | 'job-ended' | 'disabled' | 'enabled' | 'shutdown' | 'unregistered';
  /** The worker concerned; empty when not known (a job end). */
  worker: string;
}
