/**
 * Hub metrics: the Prometheus text names every metric, gauges read the hub when scraped, and jobs are
 * counted by kind and outcome (refused ones too), with dispatch latency and bytes moved.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { connectWorker, request, startAdminHarness, type AdminHarness } from './admin-harness.ts';

const NAMES = [
  'cla_hub_connected_workers',
  'cla_hub_jobs_total',
  'cla_hub_dispatch_latency_seconds',
  'cla_hub_dispatch_queue_depth',
  'cla_hub_bytes_total',
];

/** The value of one sample line, e.g. `cla_hub_jobs_total{kind="exec",outcome="ok"}`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const test = suite<{ h: AdminHarness }>('metrics');

test.before(async (ctx) => {
  ctx.h = await startAdminHarness();
  await connectWorker(ctx.h, 'm1', ['metrics']);
});

test.after(async (ctx) => {
  await ctx.h.close();
});

test('a fresh registry names each metric and has process metrics; it is not the global registry', async () => {
  const metrics = new HubMetrics();
  metrics.bind({ connectedWorkers: () => 3, queueDepth: () => 2 });
  const text = await metrics.text();
  for (const name of NAMES) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  assert.is(sample(text, 'cla_hub_connected_workers'), 3);
  assert.is(sample(text, 'cla_hub_dispatch_queue_depth'), 2);
  assert.match(text, /^process_cpu_user_seconds_total /m);
  const other = await new HubMetrics({ processMetrics: false }).text();
  assert.not.match(other, /process_cpu/);
});

test('jobs_total counts a job by kind and outcome; latency and bytes are recorded', async ({ h }) => {
  const events = await lastValueFrom(h.hub.run({ target: { worker: 'm1' }, job: { kind: 'exec', cmd: 'printf 12345' } }).pipe(toArray()));
  assert.ok(events.some((e) => e.type === 'exit'));
  const refused = await lastValueFrom(h.hub.run({ target: { tags: ['nothing'] }, job: { kind: 'exec', cmd: 'true' } })).then(
    () => 'ran',
    (error: { code?: string }) => error.code,
  );
  assert.is(refused, 'NO_WORKER');

  const answer = await request(h, 'GET', '/metrics');
  const text = answer.text;
  for (const name of NAMES) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  assert.is(sample(text, 'cla_hub_connected_workers'), 1);
  assert.is(sample(text, 'cla_hub_dispatch_queue_depth'), 0);
  assert.is(sample(text, 'cla_hub_jobs_total{kind="exec",outcome="ok"}'), 1);
  assert.is(sample(text, 'cla_hub_jobs_total{kind="exec",outcome="refused"}'), 1);
  assert.is(sample(text, 'cla_hub_dispatch_latency_seconds_count'), 1);
  assert.is(sample(text, 'cla_hub_bytes_total{direction="from_worker",kind="exec"}'), 5);
});

test.run();
