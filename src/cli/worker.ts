#!/usr/bin/env node
/**
 * `cla-worker`: register with a hub, run in the foreground or the background, unregister. Options come
 * from flags, `CLA_WORKER_*` variables and cla-worker.yml (src/worker/options.ts); the commands only
 * wire them (worker-commands.ts, loaded when a command runs: worker-program.ts).
 */
import { hideSecretArguments, WORKER_SECRET_FLAGS } from './secret-options.ts';
import { runWorkerCli } from './worker-program.ts';

// Before anything else: `--token T` must not stay readable in /proc/PID/cmdline (issue 11, case 13).
hideSecretArguments(Object.values(WORKER_SECRET_FLAGS));
await runWorkerCli(process.argv);
