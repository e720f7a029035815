/**
 * Benchmark 1: sequential exec round trips over one admin connection (AdminClient -> hub -> worker ->
 * spawn `true` -> exit back), beside the same loop of local `spawn('true')`, printed as a ratio.
 * The hub runs in this process on a real SQLite file; the worker is a separate process
 * (bench/worker-process.ts). Timing reads the monotonic `performance.now()` directly: measuring wall
 * time is the point here, unlike the product code where the clock is injected (../../shared/STYLE.md).
 * Nothing asserts on time; a run only fails if a command does not exit 0.
 *
 * Method (since 2026-12-03 18:00, branch exec9): the hub loop and the local loop are interleaved, `--slices
 * N` rounds (default 8) of a `seconds / N` hub slice and a local slice of the same length, the order flipped
 * every round, after the same warm-up as before. The overhead is the mean of all hub round trips minus the
 * mean of all local spawns over the whole run, and per round (hub slice mean minus local slice mean: the
 * median and the range are printed). Why: this VM's speed swings by more than the goal (0.5 ms) between
 * minutes (a local spawn took 3.6-5.2 ms in runs a minute apart), and before, the two loops ran one after the
 * other (the hub's `seconds`, then the local's), so the overhead was a difference of two different stretches
 * of time. Figures up to then in RESULTS.md are of that sequential method and are not comparable one to one;
 * `--slices 1` is that method. CPU per round trip and per local spawn are summed over their own slices.
 *
 * `--synchronous normal,full` runs a hub loop per listed SQLite `synchronous` level (set on the hub's
 * connection before each of its slices: every round has one slice per level, each paired with that round's
 * local slice), to show what an fsync per commit costs a round trip.
 *
 * `--hub-only` runs the hub loop alone (no local loops), for a CPU profile of the hub side:
 * `node --cpu-prof --cpu-prof-dir DIR --import tsx bench/run.ts --hub-only`; with BENCH_WORKER_CPU_PROF=DIR
 * the worker process writes its profile there too.
 *
 * The worker has a state folder (in the run's temp folder) and the crash guard that `cla-worker run`
 * always has (src/worker/leftovers.ts: the job watchdog and a ledger record per exec job), so the round
 * trip is the one a user of the CLI gets (issue 13). `--bare-worker` leaves both out (the worker guards
 * nothing), as this benchmark ran before 2026-12-02 23:30 (its RESULTS.md figures up to then).
 *
 * `--worker-build dist` (the default since 2026-12-03) runs the guarded worker as a user does: the compiled
 * package's `cla-worker run` (dist/src/cli/worker.js, built with scripts/build.mjs when dist/ is missing or
 * older than a source file). `--worker-build tsx` runs bench/worker-process.ts under `--import tsx`, as every
 * RESULTS.md figure before then; tsx's loader (a second V8 isolate in a loader thread on Node 20) doubles the
 * worker's RSS, and a fork's cost, so each spawn, grows with it. `--bare-worker` always runs the tsx script.
 * BENCH_WORKER_NODE_FLAGS='--flag ...' passes node/V8 flags to the worker process alone (for A/B runs).
 *
 * Usage: npm run bench -- [--seconds N] [--warmup N] [--slices N] [--synchronous normal,full] [--json] [--hub-only] [--bare-worker] [--worker-build dist|tsx]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { filter, firstValueFrom, lastValueFrom, map, tap } from 'rxjs';
import { systemClock } from '../src/clock.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { ActionsExtension } from '../src/hub/actions/actions-extension.ts';
import { AdminClient } from '../src/hub/admin-client.ts';
import { Hub } from '../src/hub/hub.ts';
import { Registry } from '../src/hub/registry.ts';
import { openSqliteStore } from '../src/store/sqlite-store.ts';
import { runExec } from '../src/worker/exec-runner.ts';
import { registerWorker } from '../src/worker/registration.ts';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const WORKER_SCRIPT = path.join(ROOT, 'bench', 'worker-process.ts');
const WORKER_ID = 'bench-worker';

/** One measured loop. */
interface Result {
  name: string;
  runs: number;
  seconds: number;
  perSecond: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** Where a hub round trip's time goes, as far as can be seen from outside the core code. */
interface Breakdown {
  /** Mean spawn-to-exit time the worker reported in `exit.durationMs` (whole ms, Date.now based). */
  workerExecMs: number;
  /** Mean time of the hub's two SQLite writes per job (recordJobStart + recordJobEnd), in this process. */
  hubStoreMs: number;
  /**
   * Mean time from the hub's recordJobEnd call to its commit: the exit reaches the caller only then
   * (issue 9), so this is the store's share of the round trip's critical path.
   */
  endCommitMs: number;
  /** SQLite commits of the hub's store per round trip (the job's start and end records: 2, or 1 when they share one). */
  commitsPerRoundTrip: number;
  /** Mean ms of a round trip's phases as this process sees them (see `phases` in main). */
  phasesMs: { dispatched: number; toEnd: number; commit: number; toAdmin: number };
  /**
   * CPU ms per round trip: this process (hub + admin client) and the worker process (its spawn of `true`
   * included), and per local spawn in this process. CPU time moves far less with other load than wall time.
   */
  cpuMs: { hub: number; worker: number; localSpawn: number };
}

/** CPU ms a process used so far (utime + stime from /proc, 100 ticks per second). */
function cpuMsOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Resident memory of a process, in MB (VmRSS from /proc). */
function rssMbOf(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line ? Number(line[1]) / 1024 : Number.NaN;
}

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`Expected \`--${name}\` to be a positive number, got \`${raw}\``);
  return n;
}

/** Hub slice mean minus local slice mean for each round, and their median and range (ms). */
function slicePairs(hub: number[], local: number[]): { values: number[]; medianMs: number; minMs: number; maxMs: number } {
  const values = hub.map((ms, i) => ms - local[i]!);
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const medianMs = sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { values, medianMs, minMs: sorted[0]!, maxMs: sorted[sorted.length - 1]! };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Latencies of one measurement, gathered over one loop or over several slices of it. */
class Samples {
  readonly latencies: number[] = [];
  seconds = 0;
  constructor(readonly name: string) {}

  /** Runs `once` back to back for `seconds`, one at a time, adding each latency; returns this slice's mean ms. */
  async run(seconds: number, once: () => Promise<void>): Promise<number> {
    const start = performance.now();
    const end = start + seconds * 1000;
    const first = this.latencies.length;
    let now = start;
    while (now < end) {
      await once();
      const after = performance.now();
      this.latencies.push(after - now);
      now = after;
    }
    this.seconds += (now - start) / 1000;
    const slice = this.latencies.slice(first);
    return slice.reduce((sum, ms) => sum + ms, 0) / slice.length;
  }

  result(): Result {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const meanMs = sorted.reduce((sum, ms) => sum + ms, 0) / sorted.length;
    return { name: this.name, runs: sorted.length, seconds: this.seconds, perSecond: sorted.length / this.seconds, meanMs, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
  }
}

/** Runs `once` back to back for `seconds`, one at a time. */
async function measure(name: string, seconds: number, once: () => Promise<void>): Promise<Result> {
  const samples = new Samples(name);
  await samples.run(seconds, once);
  return samples.result();
}

/**
 * `spawn('true')` awaiting 'close', as the task defines the local baseline, with the spawn options the
 * worker's exec runner uses (src/worker/exec-runner.ts): its own process group, stdin ignored, stdout and
 * stderr piped, this process's environment. Plain `spawn('true')` pipes stdin too; the same work on both
 * sides of the ratio (issue 13; the two cost the same CPU here: bench/RESULTS.md, "exec round trip").
 */
function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', [], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`true exited ${code}`))));
  });
}

/** How the bench's worker process runs: the compiled package (`dist`, what a user runs) or the sources under tsx. */
type WorkerBuild = 'dist' | 'tsx';

const DIST_WORKER = path.join(ROOT, 'dist', 'src', 'cli', 'worker.js');

/** Newest modification time (ms) of the files under `dir` (recursively), 0 if there is none. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Builds dist/ with scripts/build.mjs when it is missing or older than a source it is built from. */
function ensureBuild(): void {
  const built = fs.existsSync(DIST_WORKER) ? fs.statSync(DIST_WORKER).mtimeMs : 0;
  const sources = ['src', 'machines', 'workflows'].map((d) => newestMtime(path.join(ROOT, d)));
  const configs = ['tsconfig.json', 'tsconfig.build.json', 'package.json', path.join('scripts', 'build.mjs')].map((f) => fs.statSync(path.join(ROOT, f)).mtimeMs);
  if (built > Math.max(...sources, ...configs)) return;
  process.stderr.write(`building dist/ (${built === 0 ? 'missing' : 'older than the sources'}) with scripts/build.mjs\n`);
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`scripts/build.mjs failed (${result.signal ?? result.status})`);
}

/** Resolves once the hub sees worker `id` connected and idle (the bench's `ready`, seen from the hub). */
function workerIdle(admin: AdminClient, id: string): Promise<void> {
  return firstValueFrom(
    admin.watch<Array<{ id: string; connected: boolean; state: string }>>('workers.watch').pipe(
      filter((workers) => workers.some((w) => w.id === id && w.connected && w.state === 'connected.idle')),
      map(() => undefined),
    ),
  );
}

/**
 * Starts the worker process. With a state folder and `build` `dist` it is the compiled `cla-worker run`
 * (crash guard included, as always there); otherwise bench/worker-process.ts under tsx, guarded only with
 * a state folder. Resolves once the worker is connected and idle.
 */
async function startWorker(opts: { url: string; id: string; token: string; stateDir: string | undefined; build: WorkerBuild; cwd: string; admin: AdminClient }): Promise<ChildProcess> {
  const { url, id, token, stateDir, build } = opts;
  // BENCH_WORKER_CPU_PROF=DIR writes the worker process's CPU profile to DIR (node --cpu-prof), as
  // `node --cpu-prof --cpu-prof-dir DIR bench/run.ts` does for the hub's.
  const profileDir = process.env.BENCH_WORKER_CPU_PROF;
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-interval', '200'] : [];
  // BENCH_WORKER_NODE_FLAGS='--flag ...' passes node/V8 flags to the worker process only (A/B runs of them).
  profile.push(...(process.env.BENCH_WORKER_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== ''));
  const cli = build === 'dist' && stateDir !== undefined;
  const argv = cli
    ? [DIST_WORKER, 'run', '--url', url, '--id', id, '--token', token, '--state-dir', stateDir, '--quiet']
    : ['--import', 'tsx', WORKER_SCRIPT, '--url', url, '--id', id, '--token', token, ...(stateDir === undefined ? [] : ['--state-dir', stateDir])];
  // The CLI reads ./cla-worker.yml: it runs in the run's own temp folder.
  const child = spawn(process.execPath, [...profile, ...argv], { cwd: cli ? opts.cwd : ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const ended = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`worker process ended before it was ready (${signal ?? code})`))));
  ended.catch(() => undefined);
  const printedReady = new Promise<void>((resolve) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready\n')) resolve();
    });
  });
  await Promise.race([cli ? workerIdle(opts.admin, id) : printedReady, ended]);
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<string | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? (code === 0 ? null : String(code)))));
  child.kill('SIGTERM');
  // Cleanup safety only: a worker that ignores SIGTERM must not keep the benchmark alive.
  const force = setTimeout(() => child.kill('SIGKILL'), 5000);
  force.unref();
  const abnormal = await exited;
  clearTimeout(force);
  if (abnormal !== null) process.stderr.write(`warning: the worker process ended with ${abnormal}, not 0\n`);
}

function commandLine(args: string[]): { command: string; node: string } {
  const rest = args.length > 0 ? ` ${args.join(' ')}` : '';
  const script = path.relative(process.cwd(), process.argv[1]!);
  const node = `node ${process.execArgv.join(' ')} ${script}${rest}`.replace(/\s+/g, ' ');
  const viaNpm = process.env.npm_lifecycle_event === 'bench';
  return { command: viaNpm ? `npm run bench${rest ? ` --${rest}` : ''}` : node, node };
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);

function table(results: Result[]): string {
  const head = ['measurement', 'runs', 'per s', 'mean ms', 'p50 ms', 'p99 ms'];
  const rows = results.map((r) => [r.name, String(r.runs), fmt(r.perSecond, 1), fmt(r.meanMs, 3), fmt(r.p50Ms, 3), fmt(r.p99Ms, 3)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let values: { seconds: string; warmup: string; slices: string; synchronous: string; json: boolean; 'hub-only': boolean; 'bare-worker': boolean; 'worker-build': string };
  let levels: string[];
  let seconds: number;
  let warmup: number;
  let slices: number;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        seconds: { type: 'string', default: '5' },
        warmup: { type: 'string', default: '1' },
        slices: { type: 'string', default: '8' },
        synchronous: { type: 'string', default: '' },
        json: { type: 'boolean', default: false },
        'hub-only': { type: 'boolean', default: false },
        'bare-worker': { type: 'boolean', default: false },
        'worker-build': { type: 'string', default: 'dist' },
      },
      strict: true,
    }));
    seconds = positive('seconds', values.seconds);
    warmup = positive('warmup', values.warmup);
    slices = Number(values.slices);
    if (!Number.isInteger(slices) || slices < 1) throw new InvalidArgumentError(`Expected \`--slices\` to be a positive integer, got \`${values.slices}\``);
    levels = values.synchronous === '' ? [] : values.synchronous.split(',');
    const unknown = levels.find((level) => !['normal', 'full'].includes(level));
    if (unknown !== undefined) throw new InvalidArgumentError(`Expected \`--synchronous\` to list normal and/or full, got \`${unknown}\``);
    if (!['dist', 'tsx'].includes(values['worker-build'])) throw new InvalidArgumentError(`Expected \`--worker-build\` to be dist or tsx, got \`${values['worker-build']}\``);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: npm run bench -- [--seconds N] [--warmup N] [--slices N] [--synchronous normal,full] [--json] [--hub-only] [--bare-worker] [--worker-build dist|tsx]\n`);
    process.exitCode = 2;
    return;
  }
  const { command, node } = commandLine(args);
  const machine = { node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, platform: `${process.platform}-${process.arch}`, date: new Date().toISOString() };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-'));
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  const registry = new Registry(store, systemClock);
  // Time the hub's per-job SQLite writes by wrapping them on this instance; the core code is untouched.
  let storeMs = 0;
  let endCommitMs = 0;
  // When the hub handled the last job's exit frame (its recordJobEnd call) and when that end was committed.
  let lastEndCall = 0;
  let lastEndCommitted = 0;
  for (const method of ['recordJobStart', 'recordJobEnd'] as const) {
    const original = registry[method].bind(registry) as (...a: unknown[]) => unknown;
    (registry as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => {
      const t = performance.now();
      let result: unknown;
      try {
        result = original(...a);
        return result;
      } finally {
        storeMs += performance.now() - t;
        if (method === 'recordJobEnd') {
          lastEndCall = t;
          void Promise.resolve(result).finally(() => {
            lastEndCommitted = performance.now();
            endCommitMs += lastEndCommitted - t;
          });
        }
      }
    };
  }
  // The actions extension `cla-hub start` has: the compiled worker sends its (empty) `subscribe` at every
  // welcome, which a hub without it refuses with an error frame and a BAD_FRAME log line.
  const hub = new Hub({ port: 0 }, { registry, extensions: [new ActionsExtension({ db: store.db, cron: false })] });
  let worker: ChildProcess | undefined;
  let admin: AdminClient | undefined;
  try {
    const url = await hub.start();
    const { passkey } = await registry.createProject('bench');
    const adminToken = (await registry.ensureAdminToken()).token!;
    const { id, token } = await registerWorker({ url, passkey, id: WORKER_ID });
    admin = await AdminClient.connect(url, adminToken);
    const client = admin;
    const bare = values['bare-worker'];
    const build = values['worker-build'] as WorkerBuild;
    if (build === 'dist' && !bare) ensureBuild();
    worker = await startWorker({ url, id, token, stateDir: bare ? undefined : path.join(dir, 'worker-state'), build, cwd: dir, admin: client });
    const workerKind = bare ? 'bench/worker-process.ts under tsx, no crash guard' : build === 'dist' ? 'compiled `cla-worker run` (dist/), crash guard' : 'bench/worker-process.ts under tsx, crash guard';

    let workerExecMs = 0;
    // Where a round trip's wall time goes, from this process's clock: request -> `dispatched` seen by the
    // admin client; request -> the hub handles the worker's exit (recordJobEnd called); that call -> the end
    // committed; commit -> the exit seen by the admin client. Summed over the measured loop (`phases`).
    // Since branch exec11 the hub holds a `started: false` exec's `dispatched` until the run's next frame
    // (protocol.md `dispatched`), here the exit: the first phase is then about the whole round trip.
    const phases = { dispatched: 0, toEnd: 0, commit: 0, toAdmin: 0 };
    const roundTrip = async () => {
      const t0 = performance.now();
      let dispatchedAt = t0;
      const exit = await lastValueFrom(
        // `started: false` as `cla-hub exec` asks (protocol.md `run.started`): the pid is not used here either.
        client.run({ worker: id }, { kind: 'exec', cmd: ['true'] }, { started: false }).pipe(
          tap((event) => {
            if (event.type === 'dispatched') dispatchedAt = performance.now();
          }),
        ),
      );
      const t1 = performance.now();
      if (exit.type !== 'exit' || exit.code !== 0) throw new Error(`remote true ended with ${JSON.stringify(exit)}`);
      workerExecMs += exit.durationMs;
      phases.dispatched += dispatchedAt - t0;
      phases.toEnd += lastEndCall - t0;
      phases.commit += lastEndCommitted - lastEndCall;
      phases.toAdmin += t1 - lastEndCommitted;
    };
    const execRunner = async () => {
      const exit = await lastValueFrom(runExec({ cmd: ['true'] }).events$);
      if (exit.type !== 'exit' || exit.code !== 0) throw new Error(`true ended with ${JSON.stringify(exit)}`);
    };

    const hubOnly = values['hub-only'];
    await measure('warm-up', warmup, roundTrip);
    if (!hubOnly) {
      await measure('warm-up', warmup, spawnTrue);
      await measure('warm-up', warmup, execRunner);
    }
    const defaultLevel = store.db.pragma('synchronous', { simple: true });
    /** A hub loop at one `synchronous` level (undefined: the connection's own), gathered over its slices. */
    interface HubLoop {
      level: string | undefined;
      samples: Samples;
      /** Mean ms of each of its slices, in round order. */
      sliceMeans: number[];
      workerExecMs: number;
      storeMs: number;
      endCommitMs: number;
      commits: number;
      phases: typeof phases;
      /** CPU ms of this process and of the worker process over its slices. */
      self: number;
      other: number;
    }
    const hubLoops: HubLoop[] = (levels.length === 0 ? [undefined] : levels).map((level) => ({
      level,
      samples: new Samples(`hub round trip (AdminClient→hub→worker${level === undefined ? '' : `, synchronous=${level}`})`),
      sliceMeans: [],
      workerExecMs: 0,
      storeMs: 0,
      endCommitMs: 0,
      commits: 0,
      phases: { dispatched: 0, toEnd: 0, commit: 0, toAdmin: 0 },
      self: 0,
      other: 0,
    }));
    const local = { samples: new Samples("local spawn('true')"), sliceMeans: [] as number[], self: 0 };
    const cpuSelf = () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1000;
    };
    /** One slice of a hub loop: its round trips and what they cost, added to the loop's totals. */
    const hubSlice = async (loop: HubLoop, sliceSeconds: number) => {
      store.db.pragma(`synchronous = ${loop.level ?? defaultLevel}`);
      const before = { workerExecMs, storeMs, endCommitMs, commits: store.commits, phases: { ...phases }, self: cpuSelf(), other: cpuMsOf(worker!.pid!) };
      loop.sliceMeans.push(await loop.samples.run(sliceSeconds, roundTrip));
      loop.self += cpuSelf() - before.self;
      loop.other += cpuMsOf(worker!.pid!) - before.other;
      loop.workerExecMs += workerExecMs - before.workerExecMs;
      loop.storeMs += storeMs - before.storeMs;
      loop.endCommitMs += endCommitMs - before.endCommitMs;
      loop.commits += store.commits - before.commits;
      for (const key of Object.keys(phases) as Array<keyof typeof phases>) loop.phases[key] += phases[key] - before.phases[key];
    };
    const localSlice = async (sliceSeconds: number) => {
      const self0 = cpuSelf();
      local.sliceMeans.push(await local.samples.run(sliceSeconds, spawnTrue));
      local.self += cpuSelf() - self0;
    };
    // The hub loops and the local loop take turns in `slices` rounds of `seconds / slices` each, the
    // order flipped every round (hub first, then local first), so both see the same minutes of this VM
    // (issue 13, exec9). `--slices 1` is the method before 2026-12-03 18:00: each loop once, one after the other.
    const sliceSeconds = seconds / slices;
    for (let round = 0; round < (hubOnly ? 1 : slices); round += 1) {
      if (hubOnly) {
        for (const loop of hubLoops) await hubSlice(loop, seconds);
      } else if (round % 2 === 0) {
        for (const loop of hubLoops) await hubSlice(loop, sliceSeconds);
        await localSlice(sliceSeconds);
      } else {
        await localSlice(sliceSeconds);
        for (const loop of hubLoops) await hubSlice(loop, sliceSeconds);
      }
    }
    store.db.pragma(`synchronous = ${defaultLevel}`);
    const workerRssMb = rssMbOf(worker.pid!);
    /** Per-round-trip figures of a hub loop. */
    const perRun = (loop: HubLoop) => {
      const runs = loop.samples.latencies.length;
      const each = (ms: number) => ms / runs;
      return {
        result: loop.samples.result(),
        self: each(loop.self),
        other: each(loop.other),
        workerExecMs: each(loop.workerExecMs),
        storeMs: each(loop.storeMs),
        endCommitMs: each(loop.endCommitMs),
        commits: each(loop.commits),
        phases: { dispatched: each(loop.phases.dispatched), toEnd: each(loop.phases.toEnd), commit: each(loop.phases.commit), toAdmin: each(loop.phases.toAdmin) },
      };
    };
    const first = perRun(hubLoops[0]!);
    const hubResult = first.result;
    if (hubOnly) {
      // For CPU profiles of the hub side alone: no local loops in this process's profile.
      process.stdout.write(`worker: ${workerKind}, RSS ${fmt(workerRssMb, 0)} MB\n${table([hubResult])}\nCPU per round trip: hub + admin ${fmt(first.self, 3)} ms, worker ${fmt(first.other, 3)} ms (its spawn included); SQLite commits ${fmt(first.commits, 2)}\nphases (mean ms): request -> dispatched seen ${fmt(first.phases.dispatched, 3)}; request -> hub handles the exit ${fmt(first.phases.toEnd, 3)}; end commit ${fmt(first.phases.commit, 3)}; commit -> exit seen ${fmt(first.phases.toAdmin, 3)}\n`);
      return;
    }
    const extraLoops = hubLoops.slice(1).map((loop) => ({ ...perRun(loop), pairs: slicePairs(loop.sliceMeans, local.sliceMeans) }));
    const localResult = local.samples.result();
    const breakdown: Breakdown = {
      workerExecMs: first.workerExecMs,
      hubStoreMs: first.storeMs,
      endCommitMs: first.endCommitMs,
      commitsPerRoundTrip: first.commits,
      phasesMs: first.phases,
      cpuMs: { hub: first.self, worker: first.other, localSpawn: local.self / localResult.runs },
    };
    const runnerResult = await measure('local runExec (worker exec runner)', seconds, execRunner);
    const results = [hubResult, ...extraLoops.map((loop) => loop.result), localResult, runnerResult];
    const ratio = hubResult.perSecond / localResult.perSecond;
    const overheadMs = hubResult.meanMs - localResult.meanMs;
    const pairs = slicePairs(hubLoops[0]!.sliceMeans, local.sliceMeans);
    const synchronous = store.db.pragma('synchronous', { simple: true });
    const method = { slices, sliceSeconds, order: slices === 1 ? 'sequential: hub loop, then local loop' : 'interleaved: hub and local slices alternate, order flipped every round' };

    if (values.json) {
      const extra = extraLoops.map((loop) => ({ name: loop.result.name, overheadMs: loop.result.meanMs - localResult.meanMs, slicePairs: loop.pairs, endCommitMs: loop.endCommitMs, cpuMs: { hub: loop.self, worker: loop.other } }));
      process.stdout.write(`${JSON.stringify({ command, node, machine, seconds, warmup, method, worker: workerKind, workerRssMb, results, ratio, overheadMs, slicePairs: pairs, extraLoops: extra, breakdown, sqliteSynchronous: synchronous }, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      [
        'cla-worker bench: exec round trips over one connection',
        `command: ${command}`,
        ...(command === node ? [] : [`runs as: ${node}`]),
        `node ${machine.node}, ${machine.platform}, ${machine.cores} x ${machine.cpu}, ${machine.date}`,
        `${seconds} s per measurement after ${warmup} s warm-up each; hub in this process (SQLite file, synchronous=${synchronous}), worker in a child process`,
        slices === 1 ? 'method: sequential (--slices 1): the hub loop, then the local loop' : `method: interleaved: ${slices} rounds of a ${fmt(sliceSeconds, 2)} s hub slice and a ${fmt(sliceSeconds, 2)} s local slice, order flipped every round`,
        `worker: ${workerKind}; its RSS after the round trips ${fmt(workerRssMb, 0)} MB`,
        '',
        table(results),
        '',
        `ratio hub round trips / local spawns: ${fmt(ratio, 3)} (${fmt(1 / ratio, 2)}x slower)`,
        `overhead per round trip (mean hub - mean local, whole run): ${fmt(overheadMs, 3)} ms`,
        ...(slices === 1 ? [] : [`  per slice pair (hub slice mean - local slice mean, ${pairs.values.length} pairs): median ${fmt(pairs.medianMs, 3)} ms, min ${fmt(pairs.minMs, 3)}, max ${fmt(pairs.maxMs, 3)}`]),
        `  worker-reported spawn->exit (exit.durationMs): ${fmt(breakdown.workerExecMs, 3)} ms mean`,
        `  hub SQLite job writes (recordJobStart+End):    ${fmt(breakdown.hubStoreMs, 3)} ms mean (their synchronous part)`,
        `  hub job end record, call -> committed:         ${fmt(breakdown.endCommitMs, 3)} ms mean (the exit waits for it)`,
        `  hub SQLite commits per round trip:             ${fmt(breakdown.commitsPerRoundTrip, 2)}`,
        `  phases (mean ms): request -> dispatched seen ${fmt(breakdown.phasesMs.dispatched, 3)}; request -> hub handles the exit ${fmt(breakdown.phasesMs.toEnd, 3)} (local spawn ${fmt(localResult.meanMs, 3)}); end commit ${fmt(breakdown.phasesMs.commit, 3)}; commit -> exit seen ${fmt(breakdown.phasesMs.toAdmin, 3)}`,
        ...extraLoops.map(
          (loop) =>
            `${loop.result.name}: overhead ${fmt(loop.result.meanMs - localResult.meanMs, 3)} ms (slice pairs: median ${fmt(loop.pairs.medianMs, 3)}), end record -> committed ${fmt(loop.endCommitMs, 3)} ms, CPU hub + admin ${fmt(loop.self, 3)} ms, worker ${fmt(loop.other, 3)} ms`,
        ),
        `CPU per round trip: hub + admin ${fmt(breakdown.cpuMs.hub, 3)} ms, worker ${fmt(breakdown.cpuMs.worker, 3)} ms (its spawn included); per local spawn: ${fmt(breakdown.cpuMs.localSpawn, 3)} ms`,
        `  CPU overhead of a round trip over a local spawn: ${fmt(breakdown.cpuMs.hub + breakdown.cpuMs.worker - breakdown.cpuMs.localSpawn, 3)} ms`,
        '',
      ].join('\n'),
    );
  } finally {
    admin?.close();
    if (worker) await stopWorker(worker);
    await hub.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
