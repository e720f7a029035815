#!/usr/bin/env node
/**
 * `cla-worker`: register with a hub, run in the foreground or the background, unregister. Options come
 * from flags, `CLA_WORKER_*` variables and cla-worker.yml (src/worker/options.ts); the commands only
 * wire them (worker-commands.ts, loaded when a command runs: worker-program.ts).
 */
import { runWorkerCli } from './worker-program.ts';

await runWorkerCli(process.argv);
