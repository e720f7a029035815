/**
 * Telling a process apart from a later one that got the same pid: on Linux, the boot id and the start time
 * (clock ticks since boot, field 22 of /proc/PID/stat). Elsewhere only the pid is known, and
 * {@link sameProcess} answers `false`, so nothing is ever killed on a guess.
 */
import fs from 'node:fs';

/** Who a process is. */
export interface ProcessIdentity {
  pid: number;
  /** /proc/sys/kernel/random/boot_id, or null off Linux. */
  bootId: string | null;
  /** Start time in clock ticks since boot, or null when unknown. */
  startTime: string | null;
}

let cachedBootId: string | null | undefined;

/** The boot id of this machine's current boot (Linux), or null. Read once: it cannot change while we run. */
export function bootId(): string | null {
  if (cachedBootId !== undefined) return cachedBootId;
  try {
    cachedBootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    cachedBootId = null;
  }
  return cachedBootId;
}

/** Fields 3 and on of /proc/PID/stat (Linux), or null when it is not running or not knowable. */
function statFields(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The start time of `pid` (Linux), or null when it is not running or not knowable. */
export function startTimeOf(pid: number): string | null {
  return statFields(pid)?.[19] ?? null; // field 22 overall
}

/**
 * The identity of `pid` if it is still a child of `parent` that leads its own process group, else null.
 * A child is not reaped until its parent waits for it, so its pid cannot have been reused: when this
 * answers, the pid is still the child the parent spawned, even if it has exited (a zombie).
 */
export function childLeaderIdentity(pid: number, parent: number): ProcessIdentity | null {
  const fields = statFields(pid);
  // fields[1]: ppid (field 4), fields[2]: process group (field 5), fields[19]: start time (field 22).
  if (fields === null || Number(fields[1]) !== parent || Number(fields[2]) !== pid || fields[19] === undefined) return null;
  return { pid, bootId: bootId(), startTime: fields[19] };
}

/** The identity of the running process `pid`. */
export function processIdentity(pid: number): ProcessIdentity {
  return { pid, bootId: bootId(), startTime: startTimeOf(pid) };
}

/** Whether `identity` is still the process running under its pid (false when unknowable). */
export function sameProcess(identity: ProcessIdentity): boolean {
  if (identity.bootId === null || identity.startTime === null) return false;
  return identity.bootId === bootId() && startTimeOf(identity.pid) === identity.startTime;
}
