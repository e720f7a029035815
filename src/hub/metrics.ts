/**
 * Prometheus metrics of one hub, on a prom-client `Registry` of its own (never the global one, so two
 * hubs in one process, as in tests, do not share counters). Served as text at `GET /metrics` on the
 * admin listener (see admin-http.ts). Gauges are read from the hub when scraped; counters and the
 * histogram are fed by the job runner's {@link JobObserver} hooks.
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | `cla_hub_connected_workers` | gauge | |
 * | `cla_hub_dispatch_queue_depth` | gauge | |
 * | `cla_hub_jobs_total` | counter | `kind`, `outcome` (a job outcome, or `refused` when no worker took it) |
 * | `cla_hub_dispatch_latency_seconds` | histogram | |
 * | `cla_hub_bytes_total` | counter | `direction` (`to_worker`, `from_worker`), `kind` |
 * | process metrics (`process_*`, `nodejs_*`, without the `nodejs_active_*_total` gauges promtool refuses) | | |
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobObserver, JobEndOutcome } from './job-runner.ts';
import type { JobKind } from '../store/store.ts';

/** What the gauges read at scrape time. */
export interface MetricsSource {
  connectedWorkers(): number;
  queueDepth(): number;
}

/** Options for {@link HubMetrics}. */
export interface HubMetricsOptions {
  /** Also export prom-client's default process metrics (CPU, memory, event loop, GC). @default true */
  processMetrics?: boolean;
}

/**
 * Dispatch latency buckets in seconds: most jobs find a free worker at once (well under 10 ms); a busy
 * pool makes them wait up to the run's `--wait` (60 s by default).
 */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300];

/** prom-client default metrics that promtool refuses (gauges with a `_total` suffix). */
const UNLINTABLE_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The hub's metrics. */
export class HubMetrics implements JobObserver {
  readonly registry = new Registry();
  private source: MetricsSource = { connectedWorkers: () => 0, queueDepth: () => 0 };
  private readonly jobs: Counter<'kind' | 'outcome'>;
  private readonly latency: Histogram;
  private readonly bytesMoved: Counter<'direction' | 'kind'>;

  constructor(options: HubMetricsOptions = {}) {
    const registers = [this.registry];
    const read = () => this.source;
    new Gauge({
      name: 'cla_hub_connected_workers',
      help: 'Workers connected to the hub now',
      registers,
      collect() {
        this.set(read().connectedWorkers());
      },
    });
    new Gauge({
      name: 'cla_hub_dispatch_queue_depth',
      help: 'Run requests waiting for a matching worker to be free',
      registers,
      collect() {
        this.set(read().queueDepth());
      },
    });
    this.jobs = new Counter({
      name: 'cla_hub_jobs_total',
      help: 'Jobs ended, by kind and outcome (refused: no worker took it)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.latency = new Histogram({
      name: 'cla_hub_dispatch_latency_seconds',
      help: 'Time from a run request to its job being sent to a worker',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.bytesMoved = new Counter({
      name: 'cla_hub_bytes_total',
      help: 'Job payload bytes moved: ship/fetch chunks and exec output',
      labelNames: ['direction', 'kind'],
      registers,
    });
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named *_total fail `promtool check metrics` (the suffix is for counters); the same counts
      // stay available by type in nodejs_active_handles, nodejs_active_requests, nodejs_active_resources.
      for (const name of UNLINTABLE_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
  }

  /** Where the gauges read from (the hub binds itself when it is built). */
  bind(source: MetricsSource): void {
    this.source = source;
  }

  dispatched(_kind: JobKind, waitedMs: number): void {
    this.latency.observe(Math.max(0, waitedMs) / 1000);
  }

  ended(kind: JobKind, outcome: JobEndOutcome): void {
    this.jobs.inc({ kind, outcome });
  }

  bytes(direction: 'to_worker' | 'from_worker', kind: JobKind, bytes: number): void {
    if (bytes > 0) this.bytesMoved.inc({ direction, kind }, bytes);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
