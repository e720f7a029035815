/**
 * A real nats-server (Debian's 2.9.10) for tests (issue 10): JetStream on, bound to 127.0.0.1 on a random
 * port that the server writes to a ports file in the test's own folder (`--ports_file_dir`), storage in
 * that folder too. Stop it with `stop()` (SIGTERM, then waits for the exit); `kill()` is SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** A running nats-server. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** The route (cluster) port, when started with `--cluster`. */
  clusterPort?: number;
  child: ChildProcess;
  /** Its storage folder. */
  storeDir: string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
}

/** The path of the server binary: `NATS_SERVER` or Debian's. */
export const NATS_SERVER_BIN = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

/** Whether nats-server is installed (CI installs it with apt-get). */
export function natsServerInstalled(): boolean {
  return fs.existsSync(NATS_SERVER_BIN);
}

/**
 * Starts nats-server with JetStream in `dir` (created if missing). Resolves once the server wrote its ports
 * file, which it does after its listeners are up. `extraArgs` go after the defaults (e.g. cluster flags).
 */
export async function startNatsServer(dir: string, extraArgs: string[] = []): Promise<NatsServer> {
  fs.mkdirSync(dir, { recursive: true });
  const storeDir = path.join(dir, 'jetstream');
  const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', storeDir, '--ports_file_dir', dir, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8192);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const portsFile = path.join(dir, `nats-server_${child.pid}.ports`);
  const { port, clusterPort } = await new Promise<{ port: number; clusterPort?: number }>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`nats-server exited (${code}) before listening:\n${stderr}`));
    child.once('exit', onExit);
    // The server writes the ports file once its listeners are up; watch the folder for it.
    const watcher = fs.watch(dir, () => check());
    const check = () => {
      if (!fs.existsSync(portsFile)) return;
      let ports: { nats?: string[]; cluster?: string[] };
      try {
        ports = JSON.parse(fs.readFileSync(portsFile, 'utf8')) as { nats?: string[]; cluster?: string[] };
      } catch {
        return; // written in two steps: the next change event reads it whole
      }
      const url = ports.nats?.[0];
      if (!url) return;
      watcher.close();
      child.off('exit', onExit);
      const cluster = ports.cluster?.[0];
      resolve({ port: Number(new URL(url).port), ...(cluster ? { clusterPort: Number(new URL(cluster).port) } : {}) });
    };
    check();
  });
  const stopWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    ...(clusterPort !== undefined ? { clusterPort } : {}),
    child,
    storeDir,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}
