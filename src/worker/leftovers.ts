/**
 * What a worker killed without warning must not leave behind (issue 11, "crashes leave nothing behind"):
 * job process groups (job-watchdog.ts) and transfer temp files (transfer-temp-sweep.ts), both recorded in
 * the worker's state folder (state-dir.ts). {@link openLeftovers} is called once at start: it sweeps what
 * a previous process left and returns the tracker jobs use from then on.
 */
import type { Logger } from '../logger.ts';
import { JobGroupGuard } from './job-watchdog.ts';
import { claimStateDir } from './state-dir.ts';
import { TempFileSweeper, type TempFileTracking } from './transfer-temp-sweep.ts';

/** What operations use (through their JobContext). */
export interface LeftoverTracker {
  /** Guards a job's process group (led by `pgid`); call the result when the job's process ended. */
  trackProcessGroup(pgid: number, info: { job: string; cmd: string }): () => void;
  /** Records a transfer to `target` before its temp file is created. */
  trackTempFile(job: string, target: string): TempFileTracking;
}

/** What the start-up sweep found. */
export interface SweepReport {
  /** Process groups of earlier jobs that were killed. */
  killedGroups: Array<{ job: string; cmd: string; pgid: number }>;
  /** Temp files removed. */
  removedTempFiles: string[];
  /** Set when another live process owns the state folder: nothing was swept or will be recorded. */
  ownedBy?: number;
}

/** Sweeps `stateDir` and returns the tracker for this process's jobs. */
export function openLeftovers(stateDir: string, log: Logger): { tracker: LeftoverTracker | undefined; report: SweepReport } {
  const claim = claimStateDir(stateDir);
  if (claim.ownedBy !== undefined) {
    return { tracker: undefined, report: { killedGroups: [], removedTempFiles: [], ownedBy: claim.ownedBy.pid } };
  }
  const groups = new JobGroupGuard(stateDir, log);
  const temps = new TempFileSweeper(stateDir, log);
  const report: SweepReport = { killedGroups: groups.sweep(), removedTempFiles: temps.sweep() };
  return {
    tracker: {
      trackProcessGroup: (pgid, info) => groups.track(pgid, info),
      trackTempFile: (job, target) => temps.track(job, target),
    },
    report,
  };
}
