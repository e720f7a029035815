/**
 * Drives an installed hub and worker the way the README does (start, register, run, exec, ...), for the
 * smoke tests of the packed tarball (package-smoke.test.ts) and of the single-file worker
 * (worker-binary.test.ts). Programs are given as command + leading args, so `node .../cla-hub.js` and
 * `./cla-worker` are driven alike; `env` is the whole environment (the binary runs under `env -i`).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { LiveProcess, type CliResult } from '../integration/processes.ts';

/** How to start one program. */
export interface Program {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/** Runs a program to completion (killed after `timeoutMs`). */
export function runProgram(program: Program, args: string[], cwd: string, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program.command, [...program.args, ...args], { cwd, env: program.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(program.command)} ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Starts a program in the background. */
export function startProgram(program: Program, args: string[], cwd: string): LiveProcess {
  return new LiveProcess(spawn(program.command, [...program.args, ...args], { cwd, env: program.env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

function ok(result: CliResult, what: string): CliResult {
  assert.is(result.code, 0, `${what} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

/** What to try beyond start, register, run and exec. */
export interface DriveOptions {
  /** `cla-hub eval` on the worker (the worker forks its eval runner). */
  eval?: boolean;
  /** `cla-hub ship` a file to the worker and `fetch` it back. */
  transfer?: boolean;
  /** `cla-worker start`, `status`, `stop` (the worker spawns itself in the background) and `service`. */
  daemon?: boolean;
  /** A plugin loaded from a file with `--plugins-dir` (dynamic import). */
  plugins?: boolean;
}

/** The scenario; every step asserts. `dir` is an empty temp folder. */
export async function driveHubAndWorker(hubProgram: Program, workerProgram: Program, dir: string, options: DriveOptions = {}): Promise<void> {
  const data = path.join(dir, 'hub.sqlite');
  const workDir = path.join(dir, 'worker');
  fs.mkdirSync(workDir);
  const hub = startProgram(hubProgram, ['start', '--port', '0', '--admin-port', '0', '--data', data], dir);
  const running: LiveProcess[] = [hub];
  try {
    const url = (await hub.waitFor(/listening on (wss?:\/\/\S+)/, 60_000))[1]!;
    const passkey = (await hub.waitFor(/passkey: ([0-9a-f]{32})/))[1]!;
    const hubCli = (...args: string[]) => runProgram(hubProgram, [...args.slice(0, args.indexOf('--') < 0 ? args.length : args.indexOf('--')), '--data', data, ...(args.includes('--') ? args.slice(args.indexOf('--')) : [])], dir);

    const registered = ok(await runProgram(workerProgram, ['register', '--url', url, '--passkey', passkey, '--save'], workDir), 'cla-worker register');
    const id = /cla-worker run --id (\S+)/.exec(registered.stdout)?.[1];
    assert.ok(id, registered.stdout);
    assert.ok(fs.existsSync(path.join(workDir, 'cla-worker.yml')));

    const pluginArgs: string[] = [];
    if (options.plugins) {
      fs.mkdirSync(path.join(workDir, 'plugins'));
      fs.writeFileSync(
        path.join(workDir, 'plugins', 'hello.mjs'),
        "export const plugin = { name: 'hello', kind: 'action', create: () => ({ actions: { hello: async () => undefined } }) };\n",
      );
      pluginArgs.push('--plugins-dir', 'plugins', '--plugin', 'hello');
    }
    const worker = startProgram(workerProgram, ['run', '--tags', 'smoke', ...pluginArgs], workDir);
    running.push(worker);
    await worker.waitFor(/connected to the hub/, 60_000);
    if (options.plugins) {
      // Written to stdout before the worker dials, but "connected" may be on stderr: two pipes, read in any order.
      await worker.waitFor(/plugin hello \(action, /);
      assert.match(worker.stdout, /plugin hello \(action, /);
    }

    const exec = ok(await hubCli('exec', '--tags', 'smoke', '--', 'echo hello from $(basename "$PWD")'), 'cla-hub exec');
    assert.is(exec.stdout, 'hello from worker\n');

    if (options.eval) {
      const evaluated = ok(await hubCli('eval', '--worker', id!, 'return 6 * 7'), 'cla-hub eval');
      assert.is(evaluated.stdout.trim(), '42');
    }
    if (options.transfer) {
      const local = path.join(dir, 'payload.bin');
      fs.writeFileSync(local, Buffer.alloc(300_000, 7));
      ok(await hubCli('ship', '--worker', id!, local, path.join(workDir, 'shipped', 'payload.bin')), 'cla-hub ship');
      assert.ok(fs.readFileSync(path.join(workDir, 'shipped', 'payload.bin')).equals(fs.readFileSync(local)));
      const back = path.join(dir, 'fetched.bin');
      ok(await hubCli('fetch', '--worker', id!, path.join(workDir, 'shipped', 'payload.bin'), back), 'cla-hub fetch');
      assert.ok(fs.readFileSync(back).equals(fs.readFileSync(local)));
    }
    await worker.stop('SIGTERM');

    if (options.daemon) {
      const pidfile = path.join(workDir, 'w.pid');
      const logfile = path.join(workDir, 'w.log');
      ok(await runProgram(workerProgram, ['start', '--tags', 'smoke', '--pidfile', pidfile, '--logfile', logfile], workDir), 'cla-worker start');
      const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
      try {
        const status = ok(await runProgram(workerProgram, ['status', '--pidfile', pidfile], workDir), 'cla-worker status');
        assert.match(status.stdout + status.stderr, new RegExp(`${pid}`));
        assert.is(ok(await hubCli('exec', '--tags', 'smoke', '--', 'echo daemon'), 'cla-hub exec (daemon)').stdout, 'daemon\n');
        ok(await runProgram(workerProgram, ['stop', '--pidfile', pidfile], workDir), 'cla-worker stop');
        assert.not.ok(fs.existsSync(pidfile));
      } finally {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      const unit = ok(await runProgram(workerProgram, ['service'], workDir), 'cla-worker service').stdout;
      assert.match(unit, /^ExecStart=.* run --id /m);
    }
  } finally {
    for (const p of running.reverse()) await p.stop('SIGTERM');
  }
}
