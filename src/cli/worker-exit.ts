/**
 * What a foreground worker command (`cla-worker run` and `resotoworker`) needs around
 * the agent: its TLS settings read from the option paths, and the closing message and exit code.
 */
import os from 'node:os';
import { ClaError, ErrorCode } from '../errors.ts';
import { CloseCode } from '../protocol/version.ts';
import { loadClientTls } from '../transport/tls-config.ts';
import type { ClientTlsOptions } from '../transport/ws-client.ts';
import type { AgentExit } from '../worker/agent.ts';
import { removePidfile } from '../worker/daemon-pidfile.ts';
import type { WorkerOptions } from '../worker/options.ts';
import { fail, info, warn } from './say.ts';

/**
 * The client TLS settings of `--ca-cert`, `--cert`, `--cert-key`, `--cert-key-pass`, `--no-verify-certs`,
 * read and checked now: a wrong passphrase or unreadable file is TLS_CONFIG, exit 1 (issue 11, case 15).
 */
export function workerTlsOptions(options: WorkerOptions): ClientTlsOptions {
  const files = { caCert: options.caCert, cert: options.cert, certKey: options.certKey, certKeyPass: options.certKeyPass, noVerifyCerts: options.noVerifyCerts };
  return { ...loadClientTls(files), files };
}

/** Says why the worker stopped and sets the exit code (1 when the hub refused or dropped it). */
export function reportWorkerExit(id: string, exit: AgentExit): void {
  const daemonPidfile = process.env.CLA_WORKER_DAEMON_PIDFILE;
  if (daemonPidfile) removePidfile(daemonPidfile, process.pid);
  if (exit.error?.code === ErrorCode.TlsConfig) {
    // Not retried, and exit 1 so that a service manager does not restart into the same mistake.
    fail(new ClaError(ErrorCode.TlsConfig, exit.error.message));
    process.exitCode = 1;
  } else if (exit.error && exit.closeCode !== null && exit.closeCode >= 4000) {
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
