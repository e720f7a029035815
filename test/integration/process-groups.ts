/** Watching process groups from tests (Linux /proc): who is still in a group, and waiting for it to empty. */
import fs from 'node:fs';
import * as assert from 'uvu/assert';

/** Processes of group `pgid` that are not zombies (a zombie is dead; only its parent can reap it). */
export function liveMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(name));
    } catch {
      // exited while listing
    }
  }
  return pids;
}

/**
 * Waits until group `pgid` has no live process; returns how long that took, in ms (printed, never
 * asserted). Fails after 30 s, a bound that only keeps a broken test from hanging.
 */
export async function groupGone(pgid: number): Promise<number> {
  const started = Date.now();
  while (liveMembers(pgid).length > 0) {
    if (Date.now() - started > 30_000) assert.unreachable(`process group ${pgid} still has ${liveMembers(pgid).join(', ')} after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}
