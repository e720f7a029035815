/**
 * Benchmark 1: sequential exec round trips over one admin connection (AdminClient -> hub -> worker ->
 * spawn `true` -> exit back), beside the same loop of local `spawn('true')`, printed as a ratio.
 * The hub runs in this process on a real SQLite file; the worker is a separate process
 * (bench/worker-process.ts). Timing reads the monotonic `performance.now()` directly: measuring wall
 * time is the point here, unlike the product code where the clock is injected (../../shared/STYLE.md).
 * Nothing asserts on time; a run only fails if a command does not exit 0.
 *
 * `--synchronous normal,full` runs the hub loop once per listed SQLite `synchronous` level (set on the
 * hub's connection between loops), to show what an fsync per commit costs a round trip.
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
 * Usage: npm run bench -- [--seconds N] [--warmup N] [--synchronous normal,full] [--json] [--hub-only] [--bare-worker] [--worker-build dist|tsx]
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

/** Runs `loop` and returns its result with the CPU ms it cost this process and `pid`, per run. */
async function withCpu(pid: number, loop: () => Promise<Result>): Promise<{ result: Result; self: number; other: number }> {
  const self0 = process.cpuUsage();
  const other0 = cpuMsOf(pid);
  const result = await loop();
  const self = process.cpuUsage(self0);
  return { result, self: (self.user + self.system) / 1000 / result.runs, other: (cpuMsOf(pid) - other0) / result.runs };
}

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`Expected \`--${name}\` to be a positive number, got \`${raw}\``);
  return n;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Runs `once` back to back for `seconds`, one at a time. */
async function measure(name: string, seconds: number, once: () => Promise<void>): Promise<Result> {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    await once();
    const after = performance.now();
    latencies.push(after - now);
    now = after;
  }
  const elapsed = (now - start) / 1000;
  latencies.sort((a, b) => a - b);
  const meanMs = latencies.reduce((sum, ms) => sum + ms, 0) / latencies.length;
  return { name, runs: latencies.length, seconds: elapsed, perSecond: latencies.length / elapsed, meanMs, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
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
  let values: { seconds: string; warmup: string; synchronous: string; json: boolean; 'hub-only': boolean; 'bare-worker': boolean; 'worker-build': string };
  let levels: string[];
  let seconds: number;
  let warmup: number;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        seconds: { type: 'string', default: '5' },
        warmup: { type: 'string', default: '1' },
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
    levels = values.synchronous === '' ? [] : values.synchronous.split(',');
    const unknown = levels.find((level) => !['normal', 'full'].includes(level));
    if (unknown !== undefined) throw new InvalidArgumentError(`Expected \`--synchronous\` to list normal and/or full, got \`${unknown}\``);
    if (!['dist', 'tsx'].includes(values['worker-build'])) throw new InvalidArgumentError(`Expected \`--worker-build\` to be dist or tsx, got \`${values['worker-build']}\``);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: npm run bench -- [--seconds N] [--warmup N] [--synchronous normal,full] [--json] [--hub-only] [--bare-worker] [--worker-build dist|tsx]\n`);
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
    /** One hub loop, at the connection's own `synchronous` level or at `level`, and its breakdown figures. */
    const hubLoop = async (level?: string) => {
      if (level !== undefined) store.db.pragma(`synchronous = ${level}`);
      workerExecMs = 0;
      for (const key of Object.keys(phases) as Array<keyof typeof phases>) phases[key] = 0;
      storeMs = 0;
      endCommitMs = 0;
      const commits0 = store.commits;
      const label = level === undefined ? '' : `, synchronous=${level}`;
      const run = await withCpu(worker!.pid!, () => measure(`hub round trip (AdminClient→hub→worker${label})`, seconds, roundTrip));
      const runs = run.result.runs;
      return { run, workerExecMs: workerExecMs / runs, storeMs: storeMs / runs, endCommitMs: endCommitMs / runs, commits: (store.commits - commits0) / runs, phases: { dispatched: phases.dispatched / runs, toEnd: phases.toEnd / runs, commit: phases.commit / runs, toAdmin: phases.toAdmin / runs } };
    };
    const first = await hubLoop(levels[0]);
    const workerRssMb = rssMbOf(worker.pid!);
    const extraLoops: Array<Awaited<ReturnType<typeof hubLoop>>> = [];
    for (const level of levels.slice(1)) extraLoops.push(await hubLoop(level));
    store.db.pragma(`synchronous = ${defaultLevel}`);
    const hubRun = first.run;
    const hubResult = hubRun.result;
    if (hubOnly) {
      // For CPU profiles of the hub side alone: no local loops in this process's profile.
      process.stdout.write(`worker: ${workerKind}, RSS ${fmt(workerRssMb, 0)} MB\n${table([hubResult])}\nCPU per round trip: hub + admin ${fmt(hubRun.self, 3)} ms, worker ${fmt(hubRun.other, 3)} ms (its spawn included); SQLite commits ${fmt(first.commits, 2)}\nphases (mean ms): request -> dispatched seen ${fmt(first.phases.dispatched, 3)}; request -> hub handles the exit ${fmt(first.phases.toEnd, 3)}; end commit ${fmt(first.phases.commit, 3)}; commit -> exit seen ${fmt(first.phases.toAdmin, 3)}\n`);
      return;
    }
    const localRun = await withCpu(worker.pid!, () => measure("local spawn('true')", seconds, spawnTrue));
    const localResult = localRun.result;
    const breakdown: Breakdown = {
      workerExecMs: first.workerExecMs,
      hubStoreMs: first.storeMs,
      endCommitMs: first.endCommitMs,
      commitsPerRoundTrip: first.commits,
      phasesMs: first.phases,
      cpuMs: { hub: hubRun.self, worker: hubRun.other, localSpawn: localRun.self },
    };
    const runnerResult = await measure('local runExec (worker exec runner)', seconds, execRunner);
    const results = [hubResult, ...extraLoops.map((loop) => loop.run.result), localResult, runnerResult];
    const ratio = hubResult.perSecond / localResult.perSecond;
    const overheadMs = hubResult.meanMs - localResult.meanMs;
    const synchronous = store.db.pragma('synchronous', { simple: true });

    if (values.json) {
      process.stdout.write(`${JSON.stringify({ command, node, machine, seconds, warmup, worker: workerKind, workerRssMb, results, ratio, overheadMs, breakdown, sqliteSynchronous: synchronous }, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      [
        'cla-worker bench: exec round trips over one connection',
        `command: ${command}`,
        ...(command === node ? [] : [`runs as: ${node}`]),
        `node ${machine.node}, ${machine.platform}, ${machine.cores} x ${machine.cpu}, ${machine.date}`,
        `${seconds} s per measurement after ${warmup} s warm-up each; hub in this process (SQLite file, synchronous=${synchronous}), worker in a child process`,
        `worker: ${workerKind}; its RSS after the round trips ${fmt(workerRssMb, 0)} MB`,
        '',
        table(results),
        '',
        `ratio hub round trips / local spawns: ${fmt(ratio, 3)} (${fmt(1 / ratio, 2)}x slower)`,
        `overhead per round trip (mean hub - mean local): ${fmt(overheadMs, 3)} ms`,
        `  worker-reported spawn->exit (exit.durationMs): ${fmt(breakdown.workerExecMs, 3)} ms mean`,
        `  hub SQLite job writes (recordJobStart+End):    ${fmt(breakdown.hubStoreMs, 3)} ms mean (their synchronous part)`,
        `  hub job end record, call -> committed:         ${fmt(breakdown.endCommitMs, 3)} ms mean (the exit waits for it)`,
        `  hub SQLite commits per round trip:             ${fmt(breakdown.commitsPerRoundTrip, 2)}`,
        `  phases (mean ms): request -> dispatched seen ${fmt(breakdown.phasesMs.dispatched, 3)}; request -> hub handles the exit ${fmt(breakdown.phasesMs.toEnd, 3)} (local spawn ${fmt(localResult.meanMs, 3)}); end commit ${fmt(breakdown.phasesMs.commit, 3)}; commit -> exit seen ${fmt(breakdown.phasesMs.toAdmin, 3)}`,
        ...extraLoops.map(
          (loop) =>
            `${loop.run.result.name}: overhead ${fmt(loop.run.result.meanMs - localResult.meanMs, 3)} ms, end record -> committed ${fmt(loop.endCommitMs, 3)} ms, CPU hub + admin ${fmt(loop.run.self, 3)} ms, worker ${fmt(loop.run.other, 3)} ms`,
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
