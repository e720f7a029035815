#!/usr/bin/env node
/**
 * `cla-hub`: start the hub, manage projects, passkeys and environments, run commands on workers, and
 * print recordings. argv -> options -> calls; no logic of its own. Each command lives in its own module,
 * loaded only when asked for (hub-commands.ts), so help and version answer without loading the hub.
 */
import { HUB_COMMANDS, hubProgram } from './hub-commands.ts';
import { runLazyProgram } from './lazy-program.ts';
import { HUB_SECRET_FLAGS, hideSecretArguments } from './secret-options.ts';

// Before anything else: `--psk KEY` must not stay readable in /proc/PID/cmdline (issue 11, case 13).
hideSecretArguments(Object.values(HUB_SECRET_FLAGS));
await runLazyProgram(hubProgram(), HUB_COMMANDS, process.argv);
