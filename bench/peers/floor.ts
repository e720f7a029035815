/**
 * The floor of our protocol's cost: the same echo dispatch over a raw `ws` server (in this process, no
 * permessage-deflate) and `workers` bare `ws` clients, each in its own process (floor-client.ts). The
 * server keeps a FIFO of tasks and sends the oldest one to an idle client as a msgpack map `{id, data}`;
 * the client answers `{id, result}`: one round trip per task, no claim, lease, store, schema or state
 * machine. Each client runs one task at a time, like a worker at `--task-concurrency 1`.
 *
 * Exactly once: each reply id arrives once (driver.ts), and the clients' own counts say each id was
 * handled by exactly one client, once.
 */
import type { AddressInfo } from 'node:net';
import { Packr } from 'msgpackr';
import { WebSocketServer, type WebSocket } from 'ws';
import { mergeProcessed, startChild, type Child, type DispatchResult } from './common.ts';
import { drive, type DriveOptions, type Payload } from './driver.ts';

const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, mapsAsObjects: true, bundleStrings: false } as ConstructorParameters<typeof Packr>[0]);

interface Peer {
  name: string;
  ws: WebSocket;
  busy: boolean;
}

export async function benchFloor(options: DriveOptions): Promise<DispatchResult> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: true });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const queue: Array<{ id: string; data: Payload }> = [];
  let head = 0;
  const idle: Peer[] = [];
  const seen = new Set<string>();
  const answeredBy = new Map<string, string>();
  let listener: (id: string, ok: boolean, result: unknown) => void = () => undefined;

  const pump = () => {
    while (head < queue.length && idle.length > 0) {
      const peer = idle.pop()!;
      const task = queue[head++]!;
      peer.busy = true;
      peer.ws.send(packr.pack(task));
    }
    if (head === queue.length && head > 0) {
      queue.length = 0;
      head = 0;
    }
  };
  wss.on('connection', (ws, req) => {
    const peer: Peer = { name: new URL(req.url ?? '/', 'ws://x').searchParams.get('name') ?? '?', ws, busy: false };
    ws.on('message', (raw: Buffer) => {
      const reply = packr.unpack(raw) as { id: string; result: unknown };
      seen.add(peer.name);
      answeredBy.set(reply.id, peer.name);
      peer.busy = false;
      idle.push(peer);
      listener(reply.id, true, reply.result);
      pump();
    });
    idle.push(peer);
    pump();
  });

  const children: Child[] = [];
  try {
    for (let i = 1; i <= options.workers; i++) children.push(startChild(`floor client ${i}`, 'floor-client.ts', [url, `floor-${i}`]));
    let next = 0;
    const result = await drive(
      {
        submit: (data) => {
          const id = `f${next++}`;
          queue.push({ id, data });
          pump();
          return id;
        },
        onDone: (fn) => {
          listener = fn;
        },
        workersSeen: () => seen.size,
        processes: () => ({ workers: children.map((child) => child.proc.pid!) }),
      },
      options,
    );

    const reports = await Promise.all(
      children.map((child) => {
        const reply = child.next('processed');
        child.send({ type: 'report' });
        return reply;
      }),
    );
    const { total, duplicates } = mergeProcessed(reports.map((r) => r.ids));
    const missing = [...result.measured.keys()].filter((id) => total.get(id) !== 1);
    if (duplicates.length > 0 || missing.length > 0) {
      throw new Error(`exactly-once check failed: ${duplicates.length} ids handled more than once, ${missing.length} measured ids not handled exactly once`);
    }
    const perWorker = new Map<string, number>();
    for (const id of result.measured.keys()) perWorker.set(answeredBy.get(id)!, (perWorker.get(answeredBy.get(id)!) ?? 0) + 1);
    return {
      system: 'raw ws + msgpackr',
      setup: `\`ws\` server in the bench process, ${options.workers} \`ws\` client processes; one msgpack request and one reply per task`,
      tasks: options.tasks,
      workers: options.workers,
      burstSeconds: result.burstSeconds,
      perSecond: options.tasks / result.burstSeconds,
      submitMs: result.submitMs,
      burst: result.burst,
      sequentialCold: result.sequentialCold,
      sequential: result.sequential,
      cpuPerTask: result.cpuPerTask,
      sequentialCpuPerTask: result.sequentialCpuPerTask,
      perWorker: Object.fromEntries([...perWorker].sort()),
      exactlyOnce: `clients handled ${total.size} ids (${result.warmTasks} warm-up), each exactly once; each reply seen once`,
    };
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
}
