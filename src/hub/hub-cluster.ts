/**
 * The one seam between a hub and the other hubs of a cluster (issue 10): the hub asks it to route a run
 * for a worker it does not hold and to deliver management orders; the cluster (src/engine/cluster.ts)
 * gets a narrow {@link ClusterPort} back. A hub without one (SQLite, a single hub) never routes.
 */
import type { Observable } from 'rxjs';
import type { HubChange } from './hub-change.ts';
import type { JobEvent, RunRequest } from './job-events.ts';
import type { RunOptions } from './job-runner.ts';
import type { HubExtension } from './hub-extension.ts';
import type { WorkerSession } from './worker-session.ts';

/** A management order for the hub holding a worker. */
export type ManageOrder = { op: 'disable' | 'enable' | 'shutdown' } | { op: 'unregistered'; remaining: string[] };

/** Where another hub holds a worker, as presence says. */
export interface RemoteHolder {
  hub: string;
  /** When its session there was established, ms since the epoch. */
  since: number;
  tags: string[];
  envs: string[];
}

/** A worker's live state on the hub holding it, for the other hubs' views (dashboard, `cla-hub workers`). */
export interface LiveWorker {
  /** The worker machine's state as the worker reported it (e.g. `connected.idle`). */
  state: string;
  /** The holder's session machine state (e.g. `active.busy`, `disabled`). */
  session: string;
  runningJobs: number;
}

/** What the cluster may do on this hub. */
export interface ClusterPort {
  readonly id: string;
  /** Runs on this hub's own sessions, never routed. */
  runLocal(request: RunRequest, options: RunOptions): Observable<JobEvent>;
  /** The live local session of a worker. */
  session(workerId: string): WorkerSession | undefined;
  /** Applies a management order to the local session of `workerId`. */
  manageLocal(workerId: string, order: ManageOrder): void;
  /** A newer session of the worker is on another hub: close the local one (4006, as within one hub). */
  replaced(workerId: string, reason: string): void;
  /** The live state of a worker this hub holds. */
  live(workerId: string): LiveWorker | undefined;
  /** Another hub's workers changed (connected, state, job...): the management views here show them too. */
  remoteChange(change: HubChange): void;
}

/** How a hub reaches the workers that other hubs hold. Also a hub extension (sessions, start, stop). */
export interface HubCluster extends HubExtension {
  /** Called once by the hub's constructor. */
  attach(port: ClusterPort): void;
  /** A run for a worker another hub holds, or `undefined` to run it here. */
  route(request: RunRequest, options: RunOptions): Observable<JobEvent> | undefined;
  /** Sends an order to the hub holding `workerId`; false when no other hub holds it. */
  manage(workerId: string, order: ManageOrder): boolean;
  /** The other hub holding `workerId`, if one does. */
  holderOf(workerId: string): RemoteHolder | undefined;
  /** The live state of workers other hubs hold, asked of their hubs (those that do not answer are left out). */
  liveElsewhere(workerIds: readonly string[]): Promise<Map<string, LiveWorker>>;
  /** A change of this hub's workers, for the other hubs' views. */
  changed(change: HubChange): void;
}
