/**
 * A worker in its own process for the benchmark, so hub and worker are separate processes as in
 * production. Stands in for `cla-worker run --url URL --id ID --token TOKEN` until src/cli/worker.ts
 * exists. Prints `ready` on stdout once welcomed and idle; stops on SIGTERM/SIGINT.
 * With `--state-dir DIR` it records and guards its jobs there as `cla-worker run` does (leftovers.ts).
 * Usage: node --import tsx bench/worker-process.ts --url URL --id ID --token TOKEN [--state-dir DIR]
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/logger.ts';
import { WorkerAgent } from '../src/worker/agent.ts';
import { openLeftovers } from '../src/worker/leftovers.ts';

const { values } = parseArgs({
  options: { url: { type: 'string' }, id: { type: 'string' }, token: { type: 'string' }, 'state-dir': { type: 'string' } },
  strict: true,
});
const { url, id, token } = values;
if (url === undefined || id === undefined || token === undefined) {
  process.stderr.write('usage: worker-process.ts --url URL --id ID --token TOKEN\n');
  process.exit(2);
}

// BENCH_WORKER_MEM_LOG=FILE: every 50 ms, one line of this process's memory (ms, VmRSS, RssAnon, RssFile,
// heapUsed, heapTotal, external, arrayBuffers; MiB) appended to FILE, to see what the peak is made of.
if (process.env.BENCH_WORKER_MEM_LOG) {
  const file = process.env.BENCH_WORKER_MEM_LOG;
  const field = (text: string, name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN) / 1024;
  setInterval(() => {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const m = process.memoryUsage();
    const mib = (n: number) => (n / 1048576).toFixed(1);
    fs.appendFileSync(file, `${Date.now()} ${field(status, 'VmRSS').toFixed(1)} ${field(status, 'RssAnon').toFixed(1)} ${field(status, 'RssFile').toFixed(1)} ${mib(m.heapUsed)} ${mib(m.heapTotal)} ${mib(m.external)} ${mib(m.arrayBuffers)}\n`);
  }, 50).unref();
}

const stateDir = values['state-dir'];
const leftovers = stateDir === undefined ? undefined : openLeftovers(stateDir, silentLogger()).tracker;
const agent = new WorkerAgent({ id, token, url, leftovers });
let ready = false;
const stopListening = agent.onState((state) => {
  if (ready || JSON.stringify(state) !== JSON.stringify({ connected: 'idle' })) return;
  ready = true;
  stopListening();
  process.stdout.write('ready\n');
});
process.once('SIGTERM', () => agent.stop('benchmark done'));
process.once('SIGINT', () => agent.stop('benchmark interrupted'));

const exit = await agent.run();
// Anything but our own stop (e.g. the hub refused the token) is a failure the parent should see.
if (!ready || exit.error !== null) {
  process.stderr.write(`worker ended: ${exit.reason}\n`);
  process.exitCode = 1;
}
