/**
 * The issue 10 failover run, shared by bench/nats-cluster.ts and nats-cluster3.test.ts, all real processes:
 * a 3-node nats-server cluster (nats-cluster-nodes.ts), `cla-hub start --engine A,B,C --engine-replicas 3`
 * hubs (each listing the nodes from a different first one), `cla-worker run --task-handler echo` workers
 * spread over them, every task submitted through hub 1's `tasks.submit`. Once `killAt` of the tasks are done
 * the leader of `KV_cla_tasks` is SIGKILLed; once tasks finish again it is started again (same ports and
 * store). Every wait hangs on an event: the observer store's watch reporting completions.
 *
 * Throws (with what it saw) unless every task is done exactly once: state done, attempts 1, nothing failed,
 * no completion refused as STALE_LEASE (a task leased twice runs twice, and one of the two results is
 * refused), every hub still running, no hub logging an error or an unhandled rejection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { connectEngine, type NatsEngine } from '../../src/engine/nats-connect.ts';
import { openJetStreamTaskStore, type JetStreamTaskStore } from '../../src/engine/jetstream-task-store.ts';
import { openJetStreamRegistryStore, type JetStreamRegistryStore } from '../../src/engine/jetstream-registry-store.ts';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { adminTokenFile } from '../../src/hub/hub-record.ts';
import type { TaskRow } from '../../src/hub/tasks/task-store.ts';
import { startCluster3, type Cluster3 } from './nats-cluster-nodes.ts';
import { startCli, startHub, WORKER_BIN, type LiveProcess, type RunningHub } from './processes.ts';

export const TASK_STREAM = 'KV_cla_tasks';
const REGISTRY_STREAM = 'KV_cla_registry';
const PSK = 'cluster-failover-psk-0123456789abcdef';

export interface FailoverOptions {
  /** The run's own folder (servers' stores, hubs' data files). */
  dir: string;
  tasks: number;
  hubs: number;
  workers: number;
  /** `--task-concurrency` of each worker. */
  concurrency: number;
  /** Kill the leader once this share of the tasks is done; `undefined`: no kill (the same run for comparison). */
  killAt?: number;
  /**
   * Registry writes (`addEnv` of new names, in the hubs' registry bucket) started as the leader is killed:
   * each must be created exactly once, answered `true`, and listed at the end. @default 0
   */
  registryWrites?: number;
  /** Wait until every replica of the task stream is current at the end (polls the stream's info). @default false */
  caughtUp?: boolean;
}

export interface FailoverRun {
  /** Every task's final row. */
  rows: TaskRow[];
  /** When the first task was submitted and when the leader was killed (ms since the epoch; this host's clock, as `finishedAt`). */
  startedAt: number;
  killedAt: number | undefined;
  /** The node killed (`n1`..`n3`) and how many tasks were done then. */
  killed: string | undefined;
  killedAtDone: number;
  /** Whether the killed node led the registry stream too (its writes then went through an election). */
  registryLeaderKilled: boolean;
  /** Each hub's warnings (JSON log lines). */
  warnings: Array<{ msg?: string; code?: string }>;
}

async function submitAll(hub: RunningHub, count: number): Promise<void> {
  const client = await AdminClient.connect(hub.url, fs.readFileSync(adminTokenFile(hub.data), 'utf8').trim());
  try {
    // Batches below the hub's bound of open requests per connection (256).
    for (let i = 0; i < count; i += 200) {
      await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, j) => client.call('tasks.submit', { name: 'echo', data: { i: i + j } })));
    }
  } finally {
    client.close();
  }
}

const logLines = (hub: RunningHub) => (hub.process.stdout + hub.process.stderr).split('\n');

/** Runs the scenario; stops everything it started, whatever happens. */
export async function runClusterFailover(options: FailoverOptions): Promise<FailoverRun> {
  const { dir, tasks: count } = options;
  let cluster: Cluster3 | undefined;
  let engine: NatsEngine | undefined;
  let store: JetStreamTaskStore | undefined;
  let registry: JetStreamRegistryStore | undefined;
  const hubs: RunningHub[] = [];
  const children: LiveProcess[] = [];
  try {
    cluster = await startCluster3(path.join(dir, 'nats'));
    const urls = cluster.urls;
    for (let h = 0; h < options.hubs; h++) {
      const hubDir = path.join(dir, `hub${h + 1}`);
      fs.mkdirSync(hubDir);
      const engineUrls = [...urls.slice(h % 3), ...urls.slice(0, h % 3)].join(',');
      hubs.push(await startHub(hubDir, ['--psk', PSK, '--no-cron', '--json-logs', '--engine', engineUrls, '--engine-replicas', '3']));
    }
    for (let w = 0; w < options.workers; w++) {
      const hub = hubs[w % hubs.length]!;
      const worker = startCli(WORKER_BIN, ['run', '--url', hub.url, '--psk', PSK, '--id', `w${w + 1}`, '--task-handler', 'echo', '--task-concurrency', String(options.concurrency)], { cwd: dir });
      children.push(worker);
      await worker.waitFor(/connected to the hub/);
    }
    engine = await connectEngine(urls, { name: 'failover observer', replicas: 3 });
    store = await openJetStreamTaskStore(engine.nc, { hubId: 'failover-observer', replicas: 3 });
    registry = await openJetStreamRegistryStore(engine.nc, { replicas: 3 });
    const info = await engine.jsm.streams.info(TASK_STREAM);
    if (info.config.num_replicas !== 3) throw new Error(`${TASK_STREAM} has ${info.config.num_replicas} replicas, expected 3`);

    // Progress as the observer's watch sees the hubs' completions.
    let ended = 0;
    let onEnded = () => {};
    store.subscribe({
      pending: () => {},
      ended: () => {
        ended += 1;
        onEnded();
      },
    });
    const reach = (n: number) =>
      new Promise<void>((resolve) => {
        onEnded = () => {
          if (ended >= n) resolve();
        };
        onEnded();
      });

    const startedAt = Date.now();
    const submitted = submitAll(hubs[0]!, count);
    let killed: { name: string; index: number } | undefined;
    let killedAt: number | undefined;
    let killedAtDone = 0;
    let registryLeaderKilled = false;
    const envs = Array.from({ length: options.registryWrites ?? 0 }, (_, i) => `failover-env-${i}`);
    let envsAdded: Promise<boolean[]> = Promise.resolve([]);
    if (options.killAt !== undefined) {
      await reach(Math.ceil(count * options.killAt));
      killedAtDone = ended;
      killedAt = Date.now();
      const registryLeader = await cluster.leaderOf(REGISTRY_STREAM);
      killed = await cluster.killLeader(TASK_STREAM);
      registryLeaderKilled = registryLeader.index === killed.index;
      envsAdded = Promise.all(envs.map((name) => registry!.addEnv(name)));
      // Started again once tasks finish again: the two others elected a leader and the hubs moved on.
      await reach(killedAtDone + options.workers * options.concurrency);
      await cluster.restart(killed.index);
    }
    await submitted;
    const added = await envsAdded;
    await reach(count);
    // The count above is what the observer's watch saw; the bucket has the last word (a completion counted
    // that the bucket does not hold, seen once in a run: the check below then names the tasks).
    const settled = async () => {
      const { done, failed } = await store!.counts();
      return done + failed >= count;
    };
    for (let seen = ended; !(await settled()); seen = ended) await reach(seen + 1);
    if (options.caughtUp) await cluster.caughtUp(TASK_STREAM);

    const rows = await store.list({ limit: count + 1 });
    const counts = await store.counts();
    const retried = rows.filter((row) => row.attempts !== 1);
    const dead = hubs.filter((hub) => hub.process.child.exitCode !== null || hub.process.child.signalCode !== null);
    const errors = hubs.flatMap((hub) => logLines(hub).filter((line) => /"level":(5\d|60)/.test(line) || /unhandled/i.test(line)));
    const warnings = hubs.flatMap((hub) => logLines(hub).filter((line) => /"level":40/.test(line)).map((line) => JSON.parse(line) as { msg?: string; code?: string }));
    const stale = warnings.filter((w) => w.code === 'STALE_LEASE');
    const listedEnvs = new Set(await registry.listEnvs());
    const refusedEnvs = envs.filter((name, i) => added[i] !== true);
    const unlistedEnvs = envs.filter((name) => !listedEnvs.has(name));
    const problems = [
      ...(rows.length !== count || counts.done !== count || counts.failed !== 0
        ? [`${rows.length} rows of ${count}, counts ${JSON.stringify(counts)}; ${ended} completions seen; not done: ${JSON.stringify(rows.filter((r) => r.state !== 'done').slice(0, 3).map(({ id, state, worker, owner, attempts, claimedAt, updatedAt }) => ({ id, state, worker, owner, attempts, claimedAt, updatedAt })))}, killed at ${killedAt}`]
        : []),
      ...(retried.length > 0 ? [`${retried.length} tasks with attempts != 1: ${retried.slice(0, 5).map((r) => `${r.id}=${r.attempts}`).join(' ')}`] : []),
      ...(refusedEnvs.length > 0 ? [`${refusedEnvs.length} registry writes during the election answered as not created: ${refusedEnvs.slice(0, 5).join(' ')}`] : []),
      ...(unlistedEnvs.length > 0 ? [`${unlistedEnvs.length} registry writes not in the registry at the end: ${unlistedEnvs.slice(0, 5).join(' ')}`] : []),
      ...(stale.length > 0 ? [`${stale.length} completions refused as STALE_LEASE (a task leased twice): ${stale.slice(0, 3).map((w) => w.msg).join('; ')}`] : []),
      ...(dead.length > 0 ? [`${dead.length} hub(s) exited:\n${dead.map((hub) => hub.process.stderr.slice(-2000)).join('\n')}`] : []),
      ...(errors.length > 0 ? [`hubs logged ${errors.length} error(s):\n${errors.slice(0, 5).join('\n')}`] : []),
    ];
    if (problems.length > 0) throw new Error(`exactly-once check failed${killed ? ` (leader ${killed.name} killed at ${killedAtDone} done)` : ''}:\n${problems.join('\n')}`);
    return { rows, startedAt, killedAt, killed: killed?.name, killedAtDone, registryLeaderKilled, warnings };
  } finally {
    // BENCH_LOGS=DIR keeps every hub's log there, to look into a warning or a failure.
    if (process.env.BENCH_LOGS) for (const [h, hub] of hubs.entries()) fs.writeFileSync(path.join(process.env.BENCH_LOGS, `hub${h + 1}.log`), hub.process.stdout + hub.process.stderr);
    await store?.close();
    await registry?.close();
    await engine?.close();
    await Promise.all(children.map((child) => child.stop('SIGTERM')));
    await Promise.all(hubs.map((hub) => hub.process.stop('SIGTERM')));
    await cluster?.stop();
  }
}
