/**
 * Hub memory per idle connected worker, beside a bare `ws` server doing only the hello/welcome (the
 * floor). Each server runs alone in its process (memory-hub.ts `hub` or `raw`, --expose-gc), with
 * one client process (memory-clients.ts) that opens idle, PSK-authenticated worker connections, first up
 * to the first count (1,000), then up to the next (5,000). At 0 connections (after a short warm-up of
 * 50 connections opened and closed, so lazily built code and caches are not billed to connections) and
 * at each count, the hub collects garbage and reports `process.memoryUsage()`; the per-connection figures
 * are Δ RSS / N and Δ heapUsed / N from the 0-connection baseline. Then every connection is closed with
 * 1000 and the hub is measured once more.
 *
 * The client process needs a file descriptor per socket: it runs under `ulimit -n` raised to the hard
 * limit when the soft one is too low; a count over what the hard limit allows is measured at the most it
 * allows, and the report says so.
 */
import { spawnSync } from 'node:child_process';
import { startChild, type Child } from './common.ts';

export interface MemoryPoint {
  connections: number;
  usage: NodeJS.MemoryUsage;
  /** Time to open the connections added at this point, in ms. */
  openMs?: number;
}

/** One server's figures. */
export interface ServerMemory {
  server: 'hub' | 'raw';
  setup: string;
  baseline: NodeJS.MemoryUsage;
  points: MemoryPoint[];
  afterClose: NodeJS.MemoryUsage;
  afterCloseConnected: number;
  closeMs: number;
}

export interface MemoryResult {
  hub: ServerMemory;
  raw: ServerMemory;
  fileLimit: { soft: number; hard: number; used: number };
  /** The largest count asked for did not fit under the hard open-files limit: measured at `measured`. */
  capped?: { asked: number; measured: number };
}

const SETUP: Record<ServerMemory['server'], string> = {
  hub: '`cla-hub start --psk` equivalent (registry, tasks, actions; SQLite file)',
  raw: 'bare `ws` server: validates the hello, answers welcome, pings every 15 s',
};

const WARM_CONNECTIONS = 50;

function fileLimits(): { soft: number; hard: number } {
  const read = (flag: string) => {
    const out = spawnSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).stdout.trim();
    return out === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(out);
  };
  return { soft: read('-Sn'), hard: read('-Hn') };
}

export async function benchMemory(asked: number[]): Promise<MemoryResult> {
  const limits = fileLimits();
  // A count the hard limit cannot hold is measured at the most it can (issue 9 asks for 20,000 idle
  // workers on one hub; a machine whose hard limit is 20,000 holds about 19,750 plus the hub's own files).
  const most = Math.min(Math.max(...asked), limits.hard - WARM_CONNECTIONS - 200);
  if (most < 1) throw new Error(`\`ulimit -Hn\` is ${limits.hard}: too low to open any idle connections. Raise the hard limit (e.g. in /etc/security/limits.conf).`);
  const counts = [...new Set(asked.map((c) => Math.min(c, most)))];
  const capped = most < Math.max(...asked) ? { asked: Math.max(...asked), measured: most } : undefined;
  const need = most + WARM_CONNECTIONS + 200;
  // Raise the soft limit for both children when it is short (the hub holds one descriptor per socket too).
  const used = limits.soft >= need ? limits.soft : Math.min(limits.hard, need * 2);
  const childOptions = limits.soft >= need ? {} : { fileLimit: used };
  const hub = await measureServer('hub', counts, childOptions);
  const raw = await measureServer('raw', counts, childOptions);
  return { hub, raw, fileLimit: { ...limits, used }, ...(capped ? { capped } : {}) };
}

async function measureServer(server: ServerMemory['server'], counts: number[], childOptions: { fileLimit?: number }): Promise<ServerMemory> {
  const hub = startChild(`memory ${server}`, 'memory-hub.ts', [server], { nodeArgs: ['--expose-gc'], ...childOptions });
  let clients: Child | undefined;
  try {
    const { url, psk } = await hub.next('url');
    clients = startChild('idle workers', 'memory-clients.ts', [url, psk], childOptions);
    const measure = async (expected: number): Promise<NodeJS.MemoryUsage> => {
      const reply = hub.next('memory');
      hub.send({ type: 'measure' });
      const { usage, connected } = await reply;
      if (connected !== expected) throw new Error(`the hub has ${connected} connected workers, expected ${expected}`);
      return usage;
    };
    const open = async (total: number): Promise<number> => {
      const reply = clients!.next('opened');
      clients!.send({ type: 'open', total });
      const { total: opened, ms } = await reply;
      if (opened !== total) throw new Error(`opened ${opened} connections, expected ${total}`);
      return ms;
    };
    const closeAll = async (): Promise<number> => {
      const reply = clients!.next('closed');
      clients!.send({ type: 'close' });
      const { ms } = await reply;
      // The hub sees the closes a moment after the client does.
      for (let i = 0; i < 100 && (await measureCount()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      return ms;
    };
    const measureCount = async () => {
      const reply = hub.next('memory');
      hub.send({ type: 'measure' });
      return (await reply).connected;
    };

    await open(WARM_CONNECTIONS);
    await closeAll();
    const baseline = await measure(0);
    const points: MemoryPoint[] = [{ connections: 0, usage: baseline }];
    for (const count of counts) {
      const openMs = await open(count);
      points.push({ connections: count, usage: await measure(count), openMs });
    }
    const closeMs = await closeAll();
    const afterClose = await measure(0);
    return { server, setup: SETUP[server], baseline, points, afterClose, afterCloseConnected: 0, closeMs };
  } finally {
    await clients?.stop();
    await hub.stop();
  }
}
