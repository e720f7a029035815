/**
 * The library's option parsers refuse bad options up front, naming the option, the value and what is
 * expected (issue 12): `new Hub({ port: 70000 })`, `heartbeatMs: -1`, a worker `capacity: 0`.
 */
import fs from 'node:fs';
import { MemoryResourceStore } from '../../src/hub/actions/memory-resource-store.ts';
import { MemoryWorkflowStore } from '../../src/hub/actions/memory-workflow-store.ts';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, Hub, InvalidArgumentError, WorkerAgent, createHub, createWorker, parseCreateWorkerOptions, parseHubOptions } from '../../src/index.ts';
import type { Registry } from '../../src/hub/registry.ts';
import { tempDir } from './test-helpers.ts';

const options = suite('library options');

function refused(run: () => unknown, message: RegExp, option?: string): void {
  try {
    run();
  } catch (error) {
    assert.instance(error, InvalidArgumentError);
    assert.is((error as InvalidArgumentError).code, ErrorCode.InvalidArgument);
    assert.match((error as Error).message, message);
    if (option) assert.is((error as InvalidArgumentError).data?.option, option);
    return;
  }
  assert.unreachable(`accepted; expected ${message}`);
}

async function refusedAsync(run: () => Promise<unknown>, message: RegExp): Promise<void> {
  try {
    await run();
  } catch (error) {
    assert.instance(error, InvalidArgumentError);
    assert.match((error as Error).message, message);
    return;
  }
  assert.unreachable(`accepted; expected ${message}`);
}

const registry = {} as Registry;

options('parseHubOptions fills the defaults', () => {
  const parsed = parseHubOptions({});
  assert.equal(parsed, {
    host: '127.0.0.1',
    port: 8733,
    heartbeatMs: 15_000,
    helloTimeoutMs: 10_000,
    waitMs: 60_000,
    storedOutputBytes: 65_536,
    headersTimeoutMs: 10_000,
    maxConnectionsPerAddress: 10_000,
    maxPendingPerAddress: 128,
    maxQueuedBytes: 16 * 1024 * 1024,
    sendStallMs: 10_000,
    maxTotalQueuedBytes: 256 * 1024 * 1024,
    psk: undefined,
    tls: undefined,
    legacyPubsub: false,
  });
  assert.is(parseHubOptions({ port: 0 }).port, 0);
});

options('new Hub refuses a port out of range and a negative heartbeat before listening', () => {
  refused(() => new Hub({ port: 70000, heartbeatMs: -1 }, { registry }), /^Expected `port` to be an integer from 0 to 65535, got `70000` \(number\)$/, 'port');
  refused(() => new Hub({ heartbeatMs: -1 }, { registry }), /^Expected `heartbeatMs` to be an integer >= 10, got `-1` \(number\)$/, 'heartbeatMs');
  refused(() => new Hub({ port: '8733' as unknown as number }, { registry }), /`port`.*got `8733` \(string\)/);
  refused(() => new Hub({ host: '' }, { registry }), /`host` to be a non-empty string/);
  refused(() => new Hub({ tls: { cert: 'x' } as never }, { registry }), /`tls.key`/, 'tls.key');
});

options('createHub checks before opening anything: unknown keys, ranges, missing folders', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await refusedAsync(() => createHub({ data: `${dir}/hub.sqlite`, prot: 1 } as never), /Unknown createHub option `prot`/);
    await refusedAsync(() => createHub({ data: `${dir}/hub.sqlite`, subscriberGraceMs: -5 }), /`subscriberGraceMs`/);
    await refusedAsync(() => createHub({ data: `${dir}/hub.sqlite`, workflowsDir: `${dir}/nope` }), /`workflowsDir` to be an existing folder/);
    await refusedAsync(() => createHub({ data: `${dir}/hub.sqlite`, port: 65536 }), /`port`/);
    await refusedAsync(() => createHub({ data: `${dir}/hub.sqlite`, store: 'redis' as never }), /`store` to be one of 'sqlite', 'memory'/);
    assert.equal(fs.readdirSync(dir), []);
  } finally {
    cleanup();
  }
});

options("createHub store 'memory': tasks, workflow runs and resources on the memory backends, no data file", async () => {
  const { dir, cleanup } = tempDir();
  const created = await createHub({ data: `${dir}/hub.sqlite`, port: 0, cron: false, store: 'memory' });
  try {
    await created.start();
    await created.tasks.submit({ name: 'echo', attrs: {}, data: 1 });
    assert.instance(created.actions.store, MemoryWorkflowStore);
    assert.instance(created.actions.resources, MemoryResourceStore);
    await created.actions.resources.replaceGraph('w1', 'fs', [{ id: '/a', kind: 'file', attrs: {}, tags: {}, edges: [] }], 1, null);
    assert.is((await created.actions.resources.search({ all: [] })).length, 1);
    await created.stop();
    assert.not.ok(fs.existsSync(`${dir}/hub.sqlite`));
  } finally {
    await created.stop();
    cleanup();
  }
});

options('a worker with capacity 0 is refused, not left looping on hello timeouts', async () => {
  refused(() => new WorkerAgent({ id: 'w', token: 't', url: 'ws://127.0.0.1:1', capacity: 0 }), /^Expected `capacity` to be an integer from 1 to 10000, got `0` \(number\)$/, 'capacity');
  refused(() => new WorkerAgent({ id: 'w', url: 'ws://127.0.0.1:1' }), /`token` \(a registration\) or `psk`/);
  refused(() => new WorkerAgent({ id: 'w', token: 't', url: 'http//x' }), /`url` to be a ws:\/\/ or wss:\/\/ URL/);
  refused(() => new WorkerAgent({ id: 'w', token: 't', url: 'ws://h', backoffBaseMs: 1000, backoffMaxMs: 10 }), /`backoffMaxMs`/);
  await refusedAsync(() => createWorker({ id: 'w', token: 't', concurrency: 0 }), /`concurrency` to be an integer from 1 to 10000, got `0`/);
  await refusedAsync(() => createWorker({ id: 'w', token: 't', taskHandlers: ['nope'] }), /`taskHandlers`/);
  await refusedAsync(() => createWorker({ id: 'w', token: 't', tls: { key: 'k' } }), /`tls.cert` to be set when `tls.key` is/);
  await refusedAsync(() => createWorker({ id: 'w', token: 't', tagz: ['a'] } as never), /Unknown createWorker option `tagz`/);
});

options('parseCreateWorkerOptions fills the defaults', () => {
  const parsed = parseCreateWorkerOptions({ id: 'w1', token: 't' });
  assert.is(parsed.url, 'ws://127.0.0.1:8733');
  assert.is(parsed.concurrency, 1);
  assert.is(parsed.taskConcurrency, 4);
  assert.is(parsed.subscriberId, 'w1');
  assert.equal(parsed.tags, []);
});

options.run();
