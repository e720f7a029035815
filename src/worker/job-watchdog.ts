/**
 * No job process outlives its worker (issue 11, case 7). Each exec job's process group gets:
 * - a watchdog: a tiny `/bin/sh` in its own process group whose stdin is a pipe from the worker. When the
 *   worker dies, even by SIGKILL, the kernel closes the pipe, `read` returns, and the watchdog sends
 *   SIGTERM to the job's group, then SIGKILL 2 s later. When the job ends normally the worker kills the
 *   watchdog first, so it never signals a group id that may have been reused.
 * - a ledger record (pgid, the leader's start time, the watchdog's), so that if the watchdog died as well,
 *   the next start of the worker finds the group, reports it, and kills it ({@link sweepLeftoverJobs}).
 * POSIX only: on Windows neither is set up (a job object would be the equivalent).
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../logger.ts';
import { Ledger } from './leftover-ledger.ts';
import { bootId, processIdentity, sameProcess, startTimeOf, type ProcessIdentity } from './process-identity.ts';
import { isProcessGroupAlive, signalProcessGroup } from './process-tree.ts';

/** Grace between the watchdog's SIGTERM and SIGKILL, in seconds. */
export const WATCHDOG_GRACE_SECONDS = 2;

const WATCHDOG_SCRIPT = `read line; kill -TERM -"$1" 2>/dev/null; sleep ${WATCHDOG_GRACE_SECONDS}; kill -KILL -"$1" 2>/dev/null`;

/** A job's process group as recorded. */
export interface JobGroupRecord {
  job: string;
  cmd: string;
  /** The group's leader (the job's shell or program); its pid is the group id. */
  leader: ProcessIdentity;
  watchdog: ProcessIdentity | null;
}

/** Watches process groups of running jobs. */
export class JobGroupGuard {
  private readonly ledger: Ledger<JobGroupRecord>;

  constructor(
    stateDir: string,
    private readonly log: Logger,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {
    this.ledger = new Ledger(stateDir, 'jobs');
  }

  /** Starts guarding the group led by `pgid`; the returned function ends it (call when the job ended). */
  track(pgid: number, info: { job: string; cmd: string }): () => void {
    if (this.platform === 'win32') return () => undefined;
    const watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'cla-job-watchdog', String(pgid)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    watchdog.on('error', (error) => this.log.warn({ job: info.job, err: error }, 'cannot start the job watchdog; the job would outlive a crash of this worker'));
    // Neither the watchdog nor its pipe may keep the worker's event loop alive.
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    watchdog.stdin?.on('error', () => undefined);
    const record: JobGroupRecord = {
      ...info,
      leader: processIdentity(pgid),
      watchdog: watchdog.pid === undefined ? null : processIdentity(watchdog.pid),
    };
    let entry: ReturnType<Ledger<JobGroupRecord>['add']> | undefined;
    try {
      entry = this.ledger.add(record);
    } catch (error) {
      this.log.warn({ job: info.job, err: error }, 'cannot record the job in the state folder; the next start could not clean it up');
    }
    return () => {
      if (watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
      entry?.remove();
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
    return killed;
  }
}
