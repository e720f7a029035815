import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectWorker, type TaskCandidate } from '../../src/hub/tasks/task-selection.ts';
import { parseTaskHubOptions, parseTaskSubmission, type TaskHubOptions } from '../../src/hub/tasks/task-spec.ts';
import type { RegisteredTaskHandler } from '../../src/worker/subscriptions.ts';
import { pickHandler } from '../../src/worker/tasks/task-extension.ts';
import { encodeValue } from '../../src/protocol/codec.ts';

const worker = (workerId: string, filter: Record<string, string[]>, held = 0, capacity = 4, name = 'tag'): TaskCandidate => ({
  workerId,
  handlers: [{ name, filter }],
  capacity,
  held,
});
const aws123 = { cloud: 'aws', account: '123' };
const chosen = (selection: ReturnType<typeof selectWorker>) => (selection.kind === 'lease' ? selection.worker.workerId : selection.kind);

test('only workers with a matching handler of the task name are candidates', () => {
  const workers = [worker('gcp', { cloud: ['gcp'] }), worker('other-name', {}, 0, 4, 'collect')];
  assert.is(chosen(selectWorker(workers, 'tag', aws123)), 'none');
  assert.is(chosen(selectWorker([...workers, worker('any', {})], 'tag', aws123)), 'any');
});

test('the most specific filter wins over a less loaded catch-all', () => {
  const workers = [worker('catch-all', {}, 0), worker('aws', { cloud: ['aws'] }, 3), worker('aws-123', { cloud: ['aws'], account: ['123', '456'] }, 3)];
  assert.is(chosen(selectWorker(workers, 'tag', aws123)), 'aws-123');
  assert.is(chosen(selectWorker(workers, 'tag', { cloud: 'aws', account: '999' })), 'aws');
  assert.is(chosen(selectWorker(workers, 'tag', { cloud: 'azure' })), 'catch-all');
});

test('strict: while the most specific workers are full the task waits, it does not fall back', () => {
  const workers = [worker('catch-all', {}, 0), worker('aws-123', { cloud: ['aws'], account: ['123'] }, 4, 4)];
  assert.equal(selectWorker(workers, 'tag', aws123), { kind: 'busy', specificity: 2 });
});

test('among equally specific workers the least loaded share of capacity wins, then fewer held, then id', () => {
  const a = worker('a', { cloud: ['aws'] }, 2, 4); // 50 %
  const b = worker('b', { cloud: ['aws'] }, 3, 8); // 37.5 %
  const c = worker('c', { cloud: ['aws'] }, 1, 2); // 50 %
  assert.is(chosen(selectWorker([a, b, c], 'tag', aws123)), 'b');
  assert.is(chosen(selectWorker([a, c], 'tag', aws123)), 'c', 'same share: fewer held');
  assert.is(chosen(selectWorker([worker('y', {}), worker('x', {})], 'tag', aws123)), 'x', 'full tie: by id');
});

test('a worker with several handlers of one name counts its most specific match', () => {
  const multi: TaskCandidate = { workerId: 'multi', capacity: 4, held: 2, handlers: [{ name: 'tag', filter: {} }, { name: 'tag', filter: { account: ['123'] } }] };
  assert.is(chosen(selectWorker([worker('catch-all', {}, 0), multi], 'tag', aws123)), 'multi', 'its account handler (1) beats a catch-all (0)');
  assert.is(chosen(selectWorker([worker('catch-all', {}, 0), multi], 'tag', { account: '9' })), 'catch-all', 'its generic handler ties at 0: load decides');
});

test('the worker picks its own most specific handler for a pushed task', () => {
  const generic = () => 'generic';
  const specific = () => 'specific';
  const handlers: RegisteredTaskHandler[] = [
    { spec: { name: 'tag', filter: {} }, handler: generic },
    { spec: { name: 'tag', filter: { cloud: ['aws'] } }, handler: specific },
    { spec: { name: 'echo', filter: {} }, handler: generic },
  ];
  assert.is(pickHandler(handlers, { name: 'tag', attrs: { cloud: 'aws' } }), specific);
  assert.is(pickHandler(handlers, { name: 'tag', attrs: { cloud: 'gcp' } }), generic);
  assert.is(pickHandler(handlers, { name: 'nope', attrs: {} }), undefined);
});

test('submissions: defaults filled in, each field checked with a message naming it', () => {
  assert.equal(parseTaskSubmission({ name: 'tag' }), { name: 'tag', attrs: {}, data: encodeValue(null), deadlineMs: 60_000, maxAttempts: 5 });
  assert.equal([...parseTaskSubmission({ name: 'tag', data: { n: 1 } }).data], [...encodeValue({ n: 1 })], 'the data, encoded once into msgpack bytes');
  assert.throws(() => parseTaskSubmission({ name: 'has space' }), /Expected `name` to be 1-200 letters/);
  assert.throws(() => parseTaskSubmission({ name: 't', attrs: { cloud: 1 as unknown as string } }), /Expected `attrs.cloud` to be a string/);
  assert.throws(() => parseTaskSubmission({ name: 't', data: new Date(0) }), /Expected `data` to be a plain value/);
  assert.throws(() => parseTaskSubmission({ name: 't', data: 'x'.repeat(600_000) }), /Expected `data` to be at most 524288 bytes as msgpack, got \d+ bytes: pass a smaller value/);
  assert.throws(() => parseTaskSubmission({ name: 't', deadlineMs: 0 }), /Expected `deadlineMs` to be a positive integer up to \d+, got `0` \(number\)/);
  assert.throws(() => parseTaskSubmission({ name: 't', maxAttempts: 1.5 }), /Expected `maxAttempts`/);
  assert.equal(parseTaskHubOptions(), { leaseTtlMs: 30_000, pollMs: 200 });
  assert.throws(() => parseTaskHubOptions({ offerTimeoutMs: 10_000 } as TaskHubOptions), /`offerTimeoutMs` was removed: .*; remove it/);
  assert.throws(() => parseTaskHubOptions({ leaseTtlMs: 10 }), /Expected `leaseTtlMs` to be at least 30/);
});

test.run();
