/**
 * Real processes for integration tests: the `cla-hub` and `cla-worker` CLIs started exactly as a user
 * would (`node bin/cla-hub.js ...`), on 127.0.0.1 port 0, with real SQLite files in temp dirs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Re-exported so the integration and e2e suites keep one import for their process helpers.
export { tempDir } from '../unit/test-helpers.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HUB_BIN = path.join(ROOT, 'bin', 'cla-hub.js');
export const WORKER_BIN = path.join(ROOT, 'bin', 'cla-worker.js');
export const RESOTO_BIN = path.join(ROOT, 'bin', 'resotoworker.js');

/**
 * The environment for a child: no CLA_* (nor RESOTOWORKER_*) variables leak in from the developer's shell,
 * and no FORCE_COLOR (uvu sets it to 1; beside NO_COLOR, Node 26 warns about the pair on stderr).
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CLA_') && !key.startsWith('RESOTOWORKER_') && key !== 'FORCE_COLOR') env[key] = value;
  return { ...env, NO_COLOR: '1', ...extra };
}

/** A worker's default state folder inside the test's own folder, never under the real home. */
function testStateEnv(cwd: string, env: Record<string, string> = {}): Record<string, string> {
  return { XDG_STATE_HOME: path.join(cwd, '.state'), ...env };
}

/** Output of a finished CLI run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a CLI to completion; `timeoutMs` (default 120 s) only keeps a hung CLI from hanging the suite: then it is killed and the test fails. */
export function runCli(bin: string, args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number; terminal?: boolean }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const argv = [process.execPath, bin, ...args];
    const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
    // `terminal`: script(1) runs it on a pty and copies what it wrote there, stdout and stderr together, to `stdout`.
    const [file, ...rest] = options.terminal ? ['script', '-qec', argv.map(quote).join(' '), '/dev/null'] : argv;
    const child = spawn(file!, rest, { cwd: options.cwd, env: cleanEnv(testStateEnv(options.cwd, options.env)), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(bin)} ${args.join(' ')} did not finish in ${options.timeoutMs ?? 120_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const live = new Set<ChildProcess>();
// A failed test must not leave processes behind nor keep the test runner alive.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Kills every process still running; suites call it in `after` so a failed test leaves nothing behind. */
export async function stopAll(): Promise<void> {
  const exits = [...live].map((child) => new Promise((resolve) => {
    child.once('close', resolve);
    child.kill('SIGKILL');
  }));
  await Promise.all(exits);
}

/** A long-running CLI process whose output is collected as it comes. */
export class LiveProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    live.add(child);
    child.stdout?.on('data', (d) => (this.stdout += d));
    child.stderr?.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((resolve) =>
      child.on('close', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  /**
   * Resolves when stdout or stderr matches `pattern` (checked on every chunk of output); rejects if the
   * process exits first. `timeoutMs` only keeps a broken test from hanging: it is at least 120 s, so a
   * slow start on a loaded machine (a second copy of the suite on 2 cores) is not a failure.
   */
  waitFor(pattern: RegExp, timeoutMs = 120_000): Promise<RegExpMatchArray> {
    const guardMs = Math.max(timeoutMs, 120_000);
    return new Promise((resolve, reject) => {
      const streams = [this.child.stdout, this.child.stderr].filter((stream) => stream !== null);
      let guard: NodeJS.Timeout | undefined;
      const finish = (error?: Error, match?: RegExpMatchArray) => {
        clearTimeout(guard);
        for (const stream of streams) stream.off('data', check);
        if (error) reject(error);
        else resolve(match!);
      };
      // Listeners added after the constructor's: this.stdout/stderr already hold the new chunk.
      const check = () => {
        const match = this.stdout.match(pattern) ?? this.stderr.match(pattern);
        if (match) finish(undefined, match);
      };
      for (const stream of streams) stream.on('data', check);
      guard = setTimeout(() => finish(new Error(`no ${pattern} within ${guardMs} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)), guardMs);
      void this.exited.then(() => {
        check();
        finish(new Error(`process exited before printing ${pattern}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      });
      check();
    });
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

/** Starts a CLI in the background. */
export function startCli(bin: string, args: string[], options: { cwd: string; env?: Record<string, string> }): LiveProcess {
  return new LiveProcess(spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env: cleanEnv(testStateEnv(options.cwd, options.env)), stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** A hub started with `cla-hub start --port 0`, its URL and default passkey read from its output. */
export interface RunningHub {
  process: LiveProcess;
  url: string;
  passkey: string;
  data: string;
}

/**
 * Starts `cla-hub start` with its data file in `dir`, the worker port and the admin port 0 (the default
 * admin port 8734 may belong to another hub on the machine, which the CLI would then talk to).
 */
export async function startHub(dir: string, extraArgs: string[] = []): Promise<RunningHub> {
  const data = path.join(dir, 'hub.sqlite');
  const admin = extraArgs.includes('--admin-port') || extraArgs.includes('--no-admin') ? [] : ['--admin-port', '0'];
  const hub = startCli(HUB_BIN, ['start', '--port', '0', ...admin, '--data', data, ...extraArgs], { cwd: dir });
  const url = (await hub.waitFor(/listening on (wss?:\/\/\S+)/))[1]!;
  const passkey = (await hub.waitFor(/passkey: ([0-9a-f]{32})/))[1]!;
  return { process: hub, url, passkey, data };
}

/** Starts `cla-worker run ...` and waits until it is connected. */
export async function startWorker(dir: string, args: string[], env: Record<string, string> = {}): Promise<LiveProcess> {
  const worker = startCli(WORKER_BIN, ['run', ...args], { cwd: dir, env });
  await worker.waitFor(/connected to the hub/);
  return worker;
}
