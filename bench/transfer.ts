/**
 * Transfer benchmark ("ship and fetch throughput" in RESULTS.md): ship and fetch throughput between a hub
 * and a worker process on loopback, beside a raw `ws` binary stream of the same size between the same two
 * kinds of process, printed as ratios.
 *
 * - **Hub.run**: `shipFile`/`fetchFile` (src/hub/transfer.ts) on the hub in this process, the worker in a
 *   child process (bench/worker-process.ts): one websocket hop, sha256 on both ends, the file written to
 *   disk and fsynced on the receiving end. A ship hashes its file as it sends it (one read).
 * - **cla-hub CLI**: `cla-hub ship|fetch --json` as a third process (admin → hub → worker, two hops); the
 *   figure uses the `durationMs` the CLI reports, so Node's start-up is left out.
 * - **local copy** (context): read the file, sha256 it and write it to a new file with fsync, in this
 *   process with no network: roughly the ceiling for anything that must hash and persist every byte.
 *   A context row repeats it with one more file of the same size cached (what a fetch would pay here
 *   if the ship's source stayed cached beside the worker's copy and the fetched file; the runs remove
 *   it, so every transfer and the copy have one source and one destination); the ratios use the first row.
 * - **raw ws**: a plain `ws` server in this process and a `ws` client in a child process (the hub's and a
 *   worker's roles), 256 KiB binary messages with the same 4 MiB `bufferedAmount` high-water mark, and no
 *   framing, hashing or disk. Client-to-server frames are masked (RFC 6455), server-to-client frames are
 *   not, so each direction is its own baseline: ship to the worker runs server→client, fetch client→server.
 *   A third row runs client→server with all-zero mask keys, as the worker and the CLI send to a loopback
 *   hub (protocol.md "Transport"); the floor ratios are printed against both client→server rows.
 *
 * Timing reads `performance.now()` directly: wall time is the point here (../../shared/STYLE.md). Nothing
 * asserts on time; a run fails only if a transfer fails or a sha256 differs.
 *
 * Profiles (RESULTS.md "Where the time goes"): with `--profile DIR`, the worker and the CLI processes run
 * with `--cpu-prof --cpu-prof-dir DIR`; run the benchmark itself with `node --cpu-prof` for the hub's side.
 * The environment variable BENCH_CLI_WRAP puts a command before each CLI's node (split on spaces; `%n`
 * becomes a time stamp), e.g. `BENCH_CLI_WRAP="perf record -g -o /tmp/p/cli-%n.data"`.
 *
 * `--only hub,cli,floor` runs only those groups (hub: the Hub.run rows; cli: the cla-hub CLI rows; floor:
 * the local copy and raw ws rows); the floor ratios print when both cli and floor ran.
 *
 * Usage: node --import tsx bench/transfer.ts [--mib N] [--runs N] [--only hub,cli,floor] [--json] [--profile DIR]
 *        (internal) node --import tsx bench/transfer.ts --raw-peer URL
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { systemClock } from '../src/clock.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { Hub } from '../src/hub/hub.ts';
import { Registry } from '../src/hub/registry.ts';
import { fetchFile, hubJobRunner, shipFile } from '../src/hub/transfer.ts';
import { openSqliteStore } from '../src/store/sqlite-store.ts';
import { TRANSFER_CHUNK_BYTES, TRANSFER_WINDOW_BYTES } from '../src/worker/ops/transfer-io.ts';
import { registerWorker } from '../src/worker/registration.ts';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const SELF = fileURLToPath(import.meta.url);
const WORKER_SCRIPT = path.join(ROOT, 'bench', 'worker-process.ts');
const HUB_BIN = path.join(ROOT, 'bin', 'cla-hub.js');
const MiB = 1024 * 1024;
const HIGH_WATER = 4 * MiB;
/** Extra node flags for the worker and CLI children (`--profile DIR`). */
let childNodeArgs: string[] = [];

// ---- raw ws peer (child process) ----------------------------------------------------------------------

/**
 * The child side of the raw baseline. Text commands from the parent: `send N` streams N bytes as 256 KiB
 * binary messages and then says `sent`; `recv N` counts N incoming bytes and then says `received`.
 */
async function rawPeer(url: string, zeroMask: boolean): Promise<void> {
  // `--raw-zero-mask`: an all-zero mask key, as src/transport/ws-client.ts sends to a loopback hub.
  const generateMask = (mask: Buffer) => void mask.fill(0);
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 * MiB, ...(zeroMask ? { generateMask } : {}) });
  let expecting = 0;
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      expecting -= (data as Buffer).length;
      if (expecting === 0) ws.send('received');
      return;
    }
    const [verb, n] = data.toString().split(' ');
    if (verb === 'recv') expecting = Number(n);
    if (verb === 'send') void sendRaw(ws, Number(n)).then(() => ws.send('sent'));
  });
  ws.on('close', () => process.exit(0));
}

/** Sends `bytes` in 256 KiB messages, pausing above the high-water mark like the transfer code does. */
async function sendRaw(ws: WebSocket, bytes: number): Promise<void> {
  const block = randomBytes(TRANSFER_CHUNK_BYTES);
  for (let sent = 0; sent < bytes; ) {
    while (ws.bufferedAmount > HIGH_WATER) await new Promise((resolve) => setTimeout(resolve, 1));
    const n = Math.min(block.length, bytes - sent);
    ws.send(n === block.length ? block : block.subarray(0, n), { binary: true });
    sent += n;
  }
}

// ---- the benchmark --------------------------------------------------------------------------------------

interface Row {
  name: string;
  /** MiB/s of each run. */
  runs: number[];
  median: number;
  /**
   * CPU seconds per GiB moved (median over the runs): this process (the hub, or the local copy), the
   * worker process, and the cla-hub CLI process (CLI rows); `sys` is the kernel's share of the
   * worker's and the CLI's CPU (socket and file syscalls, page faults).
   */
  cpu?: { hub: number; worker?: number; cli?: number; sys?: number };
}

/**
 * CPU seconds from /proc (100 ticks per second): a process's own utime and stime, and its reaped
 * children's (cutime, cstime: a finished cla-hub CLI is counted there once Node has waited for it).
 */
function cpuTimes(pid: number | 'self'): { user: number; sys: number; childUser: number; childSys: number } {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) / 100, sys: Number(fields[12]) / 100, childUser: Number(fields[13]) / 100, childSys: Number(fields[14]) / 100 };
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`Expected \`--${name}\` to be a positive integer, got \`${raw}\``);
  return n;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Writes `bytes` of random data 1 MiB at a time; returns its sha256. */
function writeRandomFile(file: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  try {
    for (let done = 0; done < bytes; done += MiB) {
      const block = randomBytes(Math.min(MiB, bytes - done));
      hash.update(block);
      fs.writeSync(fd, block);
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function peakRss(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

async function timed(run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return (performance.now() - start) / 1000;
}

function startChild(args: string[], readyText: string): Promise<ChildProcess> {
  // BENCH_WORKER_NODE_ARGS: node flags for the worker child only (split on spaces), e.g. `--trace-gc`.
  const extra = process.env.BENCH_WORKER_NODE_ARGS ? process.env.BENCH_WORKER_NODE_ARGS.split(' ') : [];
  const child = spawn(process.execPath, [...childNodeArgs, ...extra, '--import', 'tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      if (extra.length > 0) process.stderr.write(chunk); // e.g. --trace-gc's lines
      out += chunk.toString();
      if (out.includes(readyText)) resolve(child);
    });
    child.once('exit', (code, signal) => reject(new Error(`child ${args.join(' ')} ended early (${signal ?? code})`)));
  });
}

/** Runs a child to completion and returns its stdout; rejects on a non-zero exit. */
function runCli(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    // BENCH_CLI_WRAP: a command put before node, e.g. `perf stat -o /tmp/p/stat-%n.txt` (%n: a time stamp).
    const wrap = process.env.BENCH_CLI_WRAP ? process.env.BENCH_CLI_WRAP.replace('%n', String(Date.now())).split(' ') : [];
    const child = spawn(wrap[0] ?? process.execPath, [...wrap.slice(1), ...(wrap.length ? [process.execPath] : []), ...childNodeArgs, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.slice(1, 3).join(' ')} exited ${code}: ${out}`))));
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), 5000);
  force.unref();
  await exited;
  clearTimeout(force);
}

/** Reads, hashes and writes `source` to `target` with 256 KiB reads, then fsyncs: no network at all. */
async function localCopy(source: string, target: string): Promise<string> {
  const hash = createHash('sha256');
  const out = await fs.promises.open(target, 'w');
  try {
    for await (const piece of fs.createReadStream(source, { highWaterMark: TRANSFER_CHUNK_BYTES })) {
      hash.update(piece as Buffer);
      await out.write(piece as Buffer);
    }
    await out.sync();
  } finally {
    await out.close();
  }
  return hash.digest('hex');
}

/** The raw ws baseline: one server here, one client in a child process (with zero mask keys: `zeroMask`). */
async function rawBaseline(bytes: number, runs: number, zeroMask = false): Promise<{ send: number[]; recv: number[] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 2 * MiB });
  await new Promise((resolve) => wss.once('listening', resolve));
  const port = (wss.address() as { port: number }).port;
  const connected = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const peer = spawn(process.execPath, ['--import', 'tsx', SELF, '--raw-peer', `ws://127.0.0.1:${port}`, ...(zeroMask ? ['--raw-zero-mask'] : [])], { cwd: ROOT, stdio: 'inherit' });
  const ws = await connected;
  const textFrom = () => new Promise<string>((resolve) => {
    const onMessage = (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      ws.off('message', onMessage);
      resolve(data.toString());
    };
    ws.on('message', onMessage);
  });
  const send: number[] = [];
  const recv: number[] = [];
  try {
    for (let i = 0; i <= runs; i += 1) {
      // Run 0 is a warm-up, as for the transfers.
      const sendSeconds = await timed(async () => {
        ws.send(`recv ${bytes}`);
        const done = textFrom();
        await sendRaw(ws, bytes);
        if ((await done) !== 'received') throw new Error('raw peer did not confirm');
      });
      let received = 0;
      // Listen for the peer's `sent` before asking: it may arrive in the same read as the last bytes.
      const sentText = textFrom();
      const recvSeconds = await timed(
        () =>
          new Promise<void>((resolve) => {
            const onMessage = (data: Buffer, isBinary: boolean) => {
              if (!isBinary) return;
              received += data.length;
              if (received === bytes) {
                ws.off('message', onMessage);
                resolve();
              }
            };
            ws.on('message', onMessage);
            ws.send(`send ${bytes}`);
          }),
      );
      await sentText;
      if (i > 0) {
        send.push(bytes / MiB / sendSeconds);
        recv.push(bytes / MiB / recvSeconds);
      }
    }
  } finally {
    ws.close();
    await new Promise((resolve) => peer.once('exit', resolve));
    await new Promise((resolve) => wss.close(resolve));
  }
  return { send, recv };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let mib: number;
  let runs: number;
  let json: boolean;
  let only: Set<string>;
  try {
    const { values } = parseArgs({
      args,
      options: { mib: { type: 'string', default: '1024' }, runs: { type: 'string', default: '2' }, json: { type: 'boolean', default: false }, 'raw-peer': { type: 'string' }, 'raw-zero-mask': { type: 'boolean', default: false }, profile: { type: 'string' }, only: { type: 'string', default: 'hub,cli,floor' } },
      strict: true,
    });
    if (values['raw-peer']) return rawPeer(values['raw-peer'], values['raw-zero-mask']);
    mib = positiveInt('mib', values.mib);
    runs = positiveInt('runs', values.runs);
    json = values.json;
    only = new Set(values.only.split(','));
    const unknown = [...only].filter((group) => !['hub', 'cli', 'floor'].includes(group));
    if (unknown.length > 0) throw new InvalidArgumentError(`Expected \`--only\` to list hub, cli or floor, got \`${unknown.join(',')}\``);
    if (values.profile) childNodeArgs = ['--cpu-prof', '--cpu-prof-dir', path.resolve(values.profile)];
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: node --import tsx bench/transfer.ts [--mib N] [--runs N] [--json]\n`);
    process.exitCode = 2;
    return;
  }
  const bytes = mib * MiB;
  const command = `node --import tsx ${path.relative(process.cwd(), SELF)}${args.length ? ` ${args.join(' ')}` : ''}`;
  const machine = {
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
    // Other work on the machine skews wall-time figures: recorded so a reader can tell.
    loadBefore: os.loadavg()[0]!,
  };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-transfer-'));
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  const registry = new Registry(store, systemClock);
  const hub = new Hub({ port: 0 }, { registry });
  let worker: ChildProcess | undefined;
  try {
    const source = path.join(dir, 'source.bin');
    const sha = writeRandomFile(source, bytes);
    const url = await hub.start();
    const { passkey } = await registry.createProject('bench');
    const adminToken = (await registry.ensureAdminToken()).token!;
    const { id, token } = await registerWorker({ url, passkey, id: 'bench-transfer' });
    worker = await startChild([WORKER_SCRIPT, '--url', url, '--id', id, '--token', token], 'ready\n');
    const workerBaseline = peakRss(worker.pid!);
    const hubBaseline = peakRss(process.pid);
    // BENCH_TRACE_RSS=1: the worker's peak RSS per transfer (its VmHWM reset before each through
    // /proc/PID/clear_refs), on stderr with a time stamp; the overall figure is then the largest of them.
    let tracedPeak = 0;
    const traced = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
      if (!process.env.BENCH_TRACE_RSS) return run();
      fs.writeFileSync(`/proc/${worker!.pid}/clear_refs`, '5');
      const start = Date.now();
      const result = await run();
      const growth = peakRss(worker!.pid!) - workerBaseline;
      tracedPeak = Math.max(tracedPeak, growth);
      process.stderr.write(`rss ${label}: ${start}-${Date.now()} worker peak growth ${(growth / MiB).toFixed(1)} MiB\n`);
      return result;
    };

    /** Runs ship then fetch `runs` times after a warm-up; `ship`/`fetch` return the seconds to count. */
    const measure = async (name: string, ship: (remote: string) => Promise<number>, fetch: (remote: string, local: string) => Promise<number>): Promise<Row[]> => {
      const shipRates: number[] = [];
      const fetchRates: number[] = [];
      type Samples = { hub: number[]; worker: number[]; cli: number[]; sys: number[] };
      const samples = (): Samples => ({ hub: [], worker: [], cli: [], sys: [] });
      const cpu = { ship: samples(), fetch: samples() };
      const gib = bytes / (1024 * MiB);
      const withCpu = async (into: Samples, run: () => Promise<number>, keep: boolean): Promise<number> => {
        const hub0 = process.cpuUsage();
        const worker0 = cpuTimes(worker!.pid!);
        const self0 = cpuTimes('self');
        const seconds = await run();
        const hubUsed = process.cpuUsage(hub0);
        if (keep) {
          const worker1 = cpuTimes(worker!.pid!);
          const self1 = cpuTimes('self');
          const workerUser = worker1.user - worker0.user;
          const workerSys = worker1.sys - worker0.sys;
          const cliUser = self1.childUser - self0.childUser;
          const cliSys = self1.childSys - self0.childSys;
          into.hub.push((hubUsed.user + hubUsed.system) / 1e6 / gib);
          into.worker.push((workerUser + workerSys) / gib);
          into.cli.push((cliUser + cliSys) / gib);
          into.sys.push((workerSys + cliSys) / Math.max(0.01, workerUser + workerSys + cliUser + cliSys));
        }
        return seconds;
      };
      const cpuOf = (from: Samples) => ({ hub: median(from.hub), worker: median(from.worker), cli: median(from.cli), sys: median(from.sys) });
      for (let i = 0; i <= runs; i += 1) {
        const remote = path.join(dir, 'remote', `${i}.bin`);
        const back = path.join(dir, `back-${i}.bin`);
        const shipSeconds = await withCpu(cpu.ship, () => traced(`${name} ship ${i}`, () => ship(remote)), i > 0);
        // One machine plays both ends here. On two machines a fetch has its source on the worker's and
        // its destination on the CLI's; here the ship's source would sit in the page cache beside them
        // as a third file of this size, which this VM makes several times dearer to fill (RESULTS.md,
        // xfer6). So the fetch runs, like the ship and the local copy, with one source and one
        // destination cached: the ship's source goes, and the fetched copy (sha256 checked) is the
        // next run's source.
        fs.rmSync(source);
        const fetchSeconds = await withCpu(cpu.fetch, () => traced(`${name} fetch ${i}`, () => fetch(remote, back)), i > 0);
        fs.rmSync(remote);
        fs.renameSync(back, source);
        if (i > 0) {
          shipRates.push(bytes / MiB / shipSeconds);
          fetchRates.push(bytes / MiB / fetchSeconds);
        }
      }
      return [
        { name: `ship via ${name}`, runs: shipRates, median: median(shipRates), cpu: cpuOf(cpu.ship) },
        { name: `fetch via ${name}`, runs: fetchRates, median: median(fetchRates), cpu: cpuOf(cpu.fetch) },
      ];
    };
    const check = (what: string, got: string) => {
      if (got !== sha) throw new Error(`${what}: sha256 ${got}, expected ${sha}`);
    };

    const runner = hubJobRunner(hub);
    const viaHub = !only.has('hub') ? [] : await measure(
      'Hub.run (1 hop)',
      (remote) => timed(async () => check('ship', (await shipFile(runner, { worker: id }, source, remote)).sha256)),
      (remote, local) => timed(async () => check('fetch', (await fetchFile(runner, { worker: id }, remote, local)).sha256)),
    );
    const cli = async (args: string[]): Promise<number> => {
      const out = await runCli([HUB_BIN, ...args, '--url', url, '--worker', id, '--json'], { CLA_HUB_ADMIN_TOKEN: adminToken });
      const result = JSON.parse(out) as { ok: boolean; sha256: string; durationMs: number };
      check(`cla-hub ${args[0]}`, result.sha256);
      return result.durationMs / 1000;
    };
    const viaCli = !only.has('cli') ? [] : await measure(
      'cla-hub CLI (2 hops)',
      (remote) => cli(['ship', source, remote]),
      (remote, local) => cli(['fetch', remote, local]),
    );
    // The CLI's fixed CPU per invocation (node + tsx start-up, connect, one job): an empty file's ship.
    let cliFixedCpu: number | undefined;
    if (only.has('cli')) {
      const empty = path.join(dir, 'empty.bin');
      fs.writeFileSync(empty, '');
      const before = cpuTimes('self');
      await runCli([HUB_BIN, 'ship', empty, path.join(dir, 'remote', 'empty.bin'), '--url', url, '--worker', id, '--json'], { CLA_HUB_ADMIN_TOKEN: adminToken });
      const after = cpuTimes('self');
      cliFixedCpu = after.childUser + after.childSys - before.childUser - before.childSys;
    }
    const workerGrowth = process.env.BENCH_TRACE_RSS ? tracedPeak : peakRss(worker.pid!) - workerBaseline;
    // The hub runs in this process, with the in-process ship/fetch of the Hub.run rows (not the local copy or raw rows, after this).
    const hubGrowth = peakRss(process.pid) - hubBaseline;
    const copies: number[] = [];
    const copyCpu: number[] = [];
    const heldCopies: number[] = [];
    const heldCopyCpu: number[] = [];
    for (let i = 0; only.has('floor') && i <= runs; i += 1) {
      const target = path.join(dir, `copy-${i}.bin`);
      const copy = async (into: number[], cpuInto: number[]) => {
        const before = process.cpuUsage();
        const seconds = await timed(async () => check('local copy', await localCopy(source, target)));
        const used = process.cpuUsage(before);
        fs.rmSync(target);
        if (i > 0) {
          into.push(bytes / MiB / seconds);
          cpuInto.push((used.user + used.system) / 1e6 / (bytes / (1024 * MiB)));
        }
      };
      await copy(copies, copyCpu);
      // The same copy while one more file of this size sits in the page cache (written untimed just before):
      // the footprint a fetch would have here if the ship's source stayed cached (the runs above remove
      // it). On a VM whose host backs only part of the guest's memory, page-cache pages past that
      // part cost several times more to fill (RESULTS.md, xfer6).
      const held = path.join(dir, `held-${i}.bin`);
      fs.copyFileSync(source, held);
      await copy(heldCopies, heldCopyCpu);
      fs.rmSync(held);
    }
    const raw = only.has('floor') ? await rawBaseline(bytes, runs) : { send: [], recv: [] };
    // The clients send to a loopback hub with zero mask keys (protocol.md "Transport"): the same wire, raw.
    const rawZero = only.has('floor') ? await rawBaseline(bytes, runs, true) : { send: [], recv: [] };
    const rawRows: Row[] = [
      { name: 'raw ws server→client (unmasked)', runs: raw.send, median: median(raw.send) },
      { name: 'raw ws client→server (masked)', runs: raw.recv, median: median(raw.recv) },
      { name: 'raw ws client→server (zero mask key)', runs: rawZero.recv, median: median(rawZero.recv) },
    ];
    const copyRow: Row = { name: 'local copy: read, sha256, write, fsync', runs: copies, median: median(copies), ...(copies.length > 0 ? { cpu: { hub: median(copyCpu) } } : {}) };
    const heldCopyRow: Row = { name: 'local copy, one more file cached (context)', runs: heldCopies, median: median(heldCopies), ...(heldCopies.length > 0 ? { cpu: { hub: median(heldCopyCpu) } } : {}) };
    const rows = [...viaHub, ...viaCli, ...(only.has('floor') ? [copyRow, heldCopyRow, ...rawRows] : [])];
    const [down, up, upZero] = rawRows as [Row, Row, Row];
    const rate = (row: Row | undefined) => row?.median ?? NaN;
    // Issue 13's floor: the slower of "move the bytes" (raw ws, masked: the CLI's hop to the hub and a
    // worker's sends are client→server) and "hash and persist the bytes" (the local copy).
    const floor = Math.min(up.median, copyRow.median);
    // The same floor with the raw hop as the clients now send it (zero mask keys on loopback): stricter.
    const floorZero = Math.min(upZero.median, copyRow.median);
    const ratios = {
      shipCliVsFloor: rate(viaCli[0]) / floor,
      fetchCliVsFloor: rate(viaCli[1]) / floor,
      shipCliVsZeroMaskFloor: rate(viaCli[0]) / floorZero,
      fetchCliVsZeroMaskFloor: rate(viaCli[1]) / floorZero,
      shipHubVsServerToClient: rate(viaHub[0]) / down.median,
      fetchHubVsClientToServer: rate(viaHub[1]) / up.median,
      shipCliVsClientToServer: rate(viaCli[0]) / up.median,
      fetchCliVsClientToServer: rate(viaCli[1]) / up.median,
      shipHubVsLocalCopy: rate(viaHub[0]) / copyRow.median,
      fetchHubVsLocalCopy: rate(viaHub[1]) / copyRow.median,
    };
    if (json) {
      process.stdout.write(`${JSON.stringify({ command, machine, mib, runs, chunkBytes: TRANSFER_CHUNK_BYTES, windowBytes: TRANSFER_WINDOW_BYTES, rows, ratios, workerPeakGrowthBytes: workerGrowth, hubPeakGrowthBytes: hubGrowth }, null, 2)}\n`);
      return;
    }
    const width = Math.max(...rows.map((r) => r.name.length));
    const fmt = (n: number) => n.toFixed(1);
    process.stdout.write(
      [
        'cla-worker bench: ship and fetch throughput',
        `command: ${command}`,
        `node ${machine.node}, ${machine.platform}, ${machine.cores} x ${machine.cpu}, ${machine.date}`,
        `load average (1 min) before: ${machine.loadBefore.toFixed(2)}, after: ${os.loadavg()[0]!.toFixed(2)}`,
        `${mib} MiB file, ${runs} run(s) after one warm-up each; chunk ${TRANSFER_CHUNK_BYTES / 1024} KiB, window ${TRANSFER_WINDOW_BYTES / MiB} MiB; hub in this process, worker in a child process`,
        '',
        `${'measurement'.padEnd(width)}  median MiB/s  CPU s/GiB hub  worker     cli  sys %  runs`,
        `${'-'.repeat(width)}  ------------  -------------  ------  ------  -----  ----`,
        ...rows.map((r) => {
          const cell = (n: number | undefined, digits: number, pad: number) => (n === undefined ? '' : n.toFixed(digits)).padStart(pad);
          const cpu = r.cpu;
          const cli = cpu?.cli !== undefined && cpu.cli > 0 ? cpu.cli : undefined;
          const sys = cpu?.sys === undefined ? undefined : 100 * cpu.sys;
          return `${r.name.padEnd(width)}  ${fmt(r.median).padStart(12)}  ${cell(cpu?.hub, 2, 13)}  ${cell(cpu?.worker, 2, 6)}  ${cell(cli, 2, 6)}  ${cell(sys, 0, 5)}  ${r.runs.map(fmt).join(', ')}`;
        }),
        '(hub = this process: the hub, or the local copy itself; sys % = kernel share of worker + CLI CPU)',
        ...(cliFixedCpu === undefined ? [] : [`(cli includes ${cliFixedCpu.toFixed(2)} CPU s per invocation whatever the size: an empty file's ship)`]),
        '',
        `ratio ship  CLI / floor min(raw client→server, local copy): ${ratios.shipCliVsFloor.toFixed(3)}  (issue 13 goal: >= 0.8)`,
        `ratio fetch CLI / floor min(raw client→server, local copy): ${ratios.fetchCliVsFloor.toFixed(3)}  (issue 13 goal: >= 0.8)`,
        `ratio ship  CLI / floor min(raw client→server zero mask key, local copy): ${ratios.shipCliVsZeroMaskFloor.toFixed(3)}`,
        `ratio fetch CLI / floor min(raw client→server zero mask key, local copy): ${ratios.fetchCliVsZeroMaskFloor.toFixed(3)}`,
        `ratio ship  Hub.run / raw server→client: ${ratios.shipHubVsServerToClient.toFixed(3)}`,
        `ratio fetch Hub.run / raw client→server: ${ratios.fetchHubVsClientToServer.toFixed(3)}`,
        `ratio ship  CLI / raw client→server:     ${ratios.shipCliVsClientToServer.toFixed(3)}`,
        `ratio fetch CLI / raw client→server:     ${ratios.fetchCliVsClientToServer.toFixed(3)}`,
        `ratio ship  Hub.run / local copy:        ${ratios.shipHubVsLocalCopy.toFixed(3)}`,
        `ratio fetch Hub.run / local copy:        ${ratios.fetchHubVsLocalCopy.toFixed(3)}`,
        `worker peak RSS growth over all transfers: ${fmt(workerGrowth / MiB)} MiB; hub (this process) ${fmt(hubGrowth / MiB)} MiB`,
        '',
      ]
        // Ratios of groups left out by --only are NaN: not printed.
        .filter((line) => !line.includes('NaN'))
        .join('\n'),
    );
  } finally {
    await stopChild(worker);
    await hub.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
