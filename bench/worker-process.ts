/**
 * A worker in its own process for the benchmark, so hub and worker are separate processes as in
 * production. Stands in for `cla-worker run --url URL --id ID --token TOKEN` until src/cli/worker.ts
 * exists. Prints `ready` on stdout once welcomed and idle; stops on SIGTERM/SIGINT.
 * Usage: node --import tsx bench/worker-process.ts --url URL --id ID --token TOKEN
 */
import { parseArgs } from 'node:util';
import { WorkerAgent } from '../src/worker/agent.ts';

const { values } = parseArgs({
  options: { url: { type: 'string' }, id: { type: 'string' }, token: { type: 'string' } },
  strict: true,
});
const { url, id, token } = values;
if (url === undefined || id === undefined || token === undefined) {
  process.stderr.write('usage: worker-process.ts --url URL --id ID --token TOKEN\n');
  process.exit(2);
}

const agent = new WorkerAgent({ id, token, url });
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
