/**
 * A stand-in worker for job-watchdog.test.ts: guards `N` jobs (`sleep 600 & sleep 600` in their own
 * process groups) with a JobGroupGuard as the worker's exec runner does, prints `pgids=A,B`, and waits to
 * be killed. Usage: node --import tsx test/integration/guard-process.ts STATE_DIR N
 */
import { spawn } from 'node:child_process';
import { silentLogger } from '../../src/logger.ts';
import { JobGroupGuard } from '../../src/worker/job-watchdog.ts';

const [stateDir, count] = process.argv.slice(2);
const guard = new JobGroupGuard(stateDir!, silentLogger());
const pgids: number[] = [];
for (let i = 0; i < Number(count); i++) {
  const job = spawn('/bin/sh', ['-c', 'sleep 600 & sleep 600'], { detached: true, stdio: 'ignore' });
  guard.track(job.pid!, { job: `job-${i}`, cmd: 'sleep 600 & sleep 600' });
  pgids.push(job.pid!);
}
process.stdout.write(`pgids=${pgids.join(',')}\n`);
// Kept alive until killed: neither the watchdog nor the jobs hold the event loop.
setInterval(() => undefined, 1 << 30);
