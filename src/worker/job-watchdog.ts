/**
 * No job process outlives its worker (issue 11, case 7). Each exec job's process group is:
 * - listed with the worker's one watchdog process (group-watchdog.ts): when the worker dies, even by
 *   SIGKILL, the watchdog sends SIGTERM to every group still listed, then SIGKILL 2 s later. A job that
 *   ends normally is unlisted first, so its group id is never signalled once it may have been reused (the
 *   argument is in group-watchdog.ts).
 * - recorded in the ledger (pgid, the leader's start time, the watchdog's), so that if the watchdog died as
 *   well, the next start of the worker finds the group, reports it, and kills it ({@link JobGroupGuard.sweep}).
 *   The record is written in the background {@link RECORD_DELAY_MS} after the job started (issue 13: a
 *   blocking write between the spawn and the exit cost more than the rest of the worker's part of a round
 *   trip, and most jobs end before the delay, so they never touch the disk). It only matters when the
 *   worker and its watchdog both die; a job younger than the delay then goes unrecorded. The leader's start
 *   time is read when the record is written, and only while the leader is still this process's unreaped
 *   child ({@link childLeaderIdentity}), so its pid is surely the job's; a leader already reaped means the
 *   job has ended and gets no record.
 * POSIX only: on Windows neither is set up (a job object would be the equivalent).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import { GroupWatchdog, type GroupWatchdogOptions } from './group-watchdog.ts';
import { Ledger } from './leftover-ledger.ts';
import { bootId, childLeaderIdentity, sameProcess, startTimeOf, type ProcessIdentity } from './process-identity.ts';
import { isProcessGroupAlive, signalProcessGroup } from './process-tree.ts';

export { WATCHDOG_GRACE_SECONDS } from './group-watchdog.ts';

/** The watchdog's list file of each worker process, in the state folder: this prefix and the process's pid. */
const WATCHDOG_LIST_PREFIX = 'watchdog-groups-';

/** How long a job runs before its ledger record is written, in ms. */
export const RECORD_DELAY_MS = 100;

/** A job's process group as recorded. */
export interface JobGroupRecord {
  job: string;
  cmd: string;
  /** The group's leader (the job's shell or program); its pid is the group id. */
  leader: ProcessIdentity;
  /** The worker's watchdog when the job started (the next start stops it if it still runs). */
  watchdog: ProcessIdentity | null;
}

/** Watches process groups of running jobs. */
export class JobGroupGuard {
  private readonly ledger: Ledger<JobGroupRecord>;
  private readonly stateDir: string;
  /** This process's watchdog list file, in {@link stateDir}. */
  private readonly listName: string;
  /** Started at the first job. */
  readonly watchdog: GroupWatchdog;

  constructor(
    stateDir: string,
    private readonly log: Logger,
    private readonly platform: NodeJS.Platform = process.platform,
    watchdog: Omit<GroupWatchdogOptions, 'log' | 'listFile'> = {},
  ) {
    this.ledger = new Ledger(stateDir, 'jobs');
    this.stateDir = stateDir;
    this.listName = `${WATCHDOG_LIST_PREFIX}${process.pid}`;
    this.watchdog = new GroupWatchdog({ ...watchdog, log, listFile: path.join(stateDir, this.listName) });
  }

  /** Starts guarding the group led by `pgid`; the returned function ends it (call when the job ended). */
  track(pgid: number, info: { job: string; cmd: string }): () => void {
    if (this.platform === 'win32') return () => undefined;
    this.watchdog.add(pgid);
    const record = (): JobGroupRecord | undefined => {
      const leader = childLeaderIdentity(pgid, process.pid);
      return leader === null ? undefined : { ...info, leader, watchdog: this.watchdog.identity };
    };
    const entry = this.ledger.addInBackground(record, (error) =>
      this.log.warn({ job: info.job, err: error }, 'cannot record the job in the state folder; the next start could not clean it up'),
      RECORD_DELAY_MS,
    );
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.watchdog.remove(pgid);
      entry.remove();
    };
  }

  /**
   * Kills the groups of jobs a previous process of this worker left running, and says so. A group is
   * killed only when it is provably the recorded one: its leader is the same process (pid, boot, start
   * time), or the leader is gone and the group still exists (a pid is not reused while it is a group id).
   * Returns what was found.
   */
  sweep(): Array<{ job: string; cmd: string; pgid: number }> {
    const killed: Array<{ job: string; cmd: string; pgid: number }> = [];
    for (const record of this.ledger.list()) {
      const value = record.value;
      if (value !== undefined && this.platform !== 'win32') {
        const pgid = value.leader.pid;
        if (value.watchdog !== null && sameProcess(value.watchdog)) signalProcessGroup(value.watchdog.pid, 'SIGKILL');
        const leaderAlive = startTimeOf(pgid) !== null;
        const ours = leaderAlive ? sameProcess(value.leader) : value.leader.bootId !== null && value.leader.bootId === bootId() && isProcessGroupAlive(pgid);
        if (ours && signalProcessGroup(pgid, 'SIGKILL')) {
          killed.push({ job: value.job, cmd: value.cmd, pgid });
          this.log.warn({ job: value.job, pgid, cmd: value.cmd }, `killed process group ${pgid} of job ${value.job} (\`${value.cmd}\`), left running by a previous process of this worker`);
        }
      }
      this.ledger.drop(record);
    }
    // Lists of earlier processes' watchdogs that did not live to remove them (killed along with their worker).
    for (const name of fs.readdirSync(this.stateDir)) {
      if (name.startsWith(WATCHDOG_LIST_PREFIX) && name !== this.listName) fs.rmSync(path.join(this.stateDir, name), { force: true });
    }
    return killed;
  }
}
