/**
 * What a foreground worker command (`resotoworker`; `cla-worker run` has the same lines) needs around
 * the agent: its TLS settings read from the option paths, and the closing message and exit code.
 */
import fs from 'node:fs';
import os from 'node:os';
import { ClaError } from '../errors.ts';
import { CloseCode } from '../protocol/version.ts';
import type { ClientTlsOptions } from '../transport/ws-client.ts';
import type { AgentExit } from '../worker/agent.ts';
import { removePidfile } from '../worker/daemon-pidfile.ts';
import type { WorkerOptions } from '../worker/options.ts';
import { fail, info, warn } from './say.ts';

/** The client TLS settings of `--ca-cert`, `--cert`, `--cert-key`, `--cert-key-pass`, `--no-verify-certs`. */
export function workerTlsOptions(options: WorkerOptions): ClientTlsOptions {
  return {
    ca: options.caCert ? fs.readFileSync(options.caCert) : undefined,
    cert: options.cert ? fs.readFileSync(options.cert) : undefined,
    key: options.certKey ? fs.readFileSync(options.certKey) : undefined,
    passphrase: options.certKeyPass,
    verify: !options.noVerifyCerts,
  };
}

/** Says why the worker stopped and sets the exit code (1 when the hub refused or dropped it). */
export function reportWorkerExit(id: string, exit: AgentExit): void {
  const daemonPidfile = process.env.CLA_WORKER_DAEMON_PIDFILE;
  if (daemonPidfile) removePidfile(daemonPidfile, process.pid);
  if (exit.error && exit.closeCode !== null && exit.closeCode >= 4000) {
    fail(new ClaError(exit.error.code as never, exit.error.message));
    process.exitCode = 1;
  } else if (exit.shutdownByHub || exit.closeCode === CloseCode.Shutdown) {
    warn(`worker ${id} was shut down by the hub; start it again on ${os.hostname()} to bring it back`);
  } else if (exit.closeCode === CloseCode.Unregistered) {
    fail(new ClaError('UNKNOWN_WORKER', `worker ${id} was unregistered from the hub; register it again to bring it back`));
    process.exitCode = 1;
  } else if (exit.closeCode === CloseCode.Replaced) {
    fail(new ClaError('DUPLICATE_WORKER', `another process connected as worker ${id}; this one stops`));
    process.exitCode = 1;
  } else {
    info(`worker ${id} stopped: ${exit.reason}`);
  }
}
