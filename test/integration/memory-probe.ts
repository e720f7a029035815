/**
 * The parent's side of memory-hub.ts: starts the hub process and asks it for its memory after forced GC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HubOptions } from '../../src/hub/hub.ts';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'memory-hub.ts');

export interface HubMemory {
  heapUsed: number;
  external: number;
  rss: number;
}

type Message = { type: string; [key: string]: unknown };

export interface MemoryHub {
  url: string;
  adminToken: string;
  workerToken: string;
  child: ChildProcess;
  /** Heap + external bytes after forced GC. */
  measure(): Promise<number>;
  /** The next message matching `match` (messages that arrived before the call are kept). */
  next(match: (message: Message) => boolean): Promise<Message>;
  stop(): Promise<void>;
}

export async function startMemoryHub(options: HubOptions = {}): Promise<MemoryHub> {
  // Without uvu's FORCE_COLOR, which Node warns about next to run.mjs's NO_COLOR.
  const { FORCE_COLOR: _forceColor, ...env } = process.env;
  const child = fork(SCRIPT, [JSON.stringify(options)], { execArgv: ['--expose-gc', '--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const seen: Message[] = [];
  const waiters: Array<{ match: (message: Message) => boolean; resolve: (message: Message) => void }> = [];
  child.on('message', (message: Message) => {
    const waiter = waiters.find((w) => w.match(message));
    if (waiter) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(message);
    } else seen.push(message);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = (match: (message: Message) => boolean) =>
    new Promise<Message>((resolve, reject) => {
      const index = seen.findIndex(match);
      if (index >= 0) {
        resolve(seen.splice(index, 1)[0]!);
        return;
      }
      waiters.push({ match, resolve });
      void exited.then(() => reject(new Error('the hub process exited')));
    });
  const ready = await next((m) => m.type === 'ready');
  return {
    url: ready.url as string,
    adminToken: ready.adminToken as string,
    workerToken: ready.workerToken as string,
    child,
    next,
    measure: async () => {
      child.send({ type: 'measure' });
      const memory = (await next((m) => m.type === 'memory')) as unknown as HubMemory;
      return memory.heapUsed + memory.external;
    },
    stop: async () => {
      if (child.exitCode === null && child.connected) child.send({ type: 'stop' });
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
