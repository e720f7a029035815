/**
 * The Clarive legacy HTTP + SSE pubsub (issue 14) over a real hub listener and real HTTP: scripted 1.x and
 * 2.x workers (legacy-client.ts) register, connect, and serve every verb the hub sends them; a reconnect
 * with Last-Event-ID gets what it missed; a bad token is 401; a shutdown ends with /pubsub/close. The
 * token never shows in the hub's logs or its frame recording.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { systemClock } from '../../src/clock.ts';
import { ClaError } from '../../src/errors.ts';
import { Hub } from '../../src/hub/hub.ts';
import type { JobEvent, JobInput } from '../../src/hub/job-events.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { fetchFile, hubJobRunner, shipFile } from '../../src/hub/transfer.ts';
import { createLogger } from '../../src/logger.ts';
import type { JobSpec } from '../../src/protocol/frames.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { FrameRecorder } from '../../src/transport/recorder.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { LegacyClient, request } from './legacy-client.ts';
import { HUB_BIN, runCli, startHub, stopAll } from './processes.ts';

interface Ctx {
  dir: string;
  cleanup: () => void;
  hub: Hub;
  base: string;
  passkey: string;
  registry: Registry;
  close: () => Promise<void>;
  logFile: string;
  recordFile: string;
}

const it = suite<Ctx>('legacy-pubsub');

it.before.each(async (ctx) => {
  Object.assign(ctx, tempDir('cla-legacy-'));
  const store = openSqliteStore(path.join(ctx.dir, 'hub.db'));
  const registry = new Registry(store, systemClock);
  const passkey = (await registry.ensureDefaultProject()).passkey!;
  ctx.logFile = path.join(ctx.dir, 'hub.log');
  ctx.recordFile = path.join(ctx.dir, 'frames.rec');
  const recorder = new FrameRecorder(ctx.recordFile, systemClock, 'hub');
  const log = createLogger({ name: 'hub', verbose: true, destination: ctx.logFile, json: true });
  const hub = new Hub(
    { host: '127.0.0.1', port: 0, legacyPubsub: { spoolDir: path.join(ctx.dir, 'spool'), capableGraceMs: 50 } },
    { registry, log, tap: recorder, metrics: new HubMetrics({ processMetrics: false }) },
  );
  const url = await hub.start();
  Object.assign(ctx, { hub, registry, passkey, base: url.replace(/^ws/, 'http') });
  ctx.close = async () => {
    await hub.stop();
    recorder.close();
    log.flush?.();
    await store.close();
  };
});

it.after.each(async (ctx) => {
  await ctx.close();
  ctx.cleanup();
});

/** Runs a job on `worker`; resolves with its events or rejects with its error. */
function run(ctx: Ctx, worker: string, job: JobSpec): Promise<JobEvent[]> {
  return lastValueFrom(ctx.hub.run({ target: { worker }, job, waitMs: 5000 }).pipe(toArray()));
}

/** A registered and connected legacy worker. */
async function connected(ctx: Ctx, generation: 1 | 2, id: string, tags: string[] = ['linux']): Promise<LegacyClient> {
  const client = new LegacyClient(ctx.base, { generation, id, tags, envs: [] });
  const registered = await client.register(ctx.passkey);
  assert.type(registered.token, 'string', JSON.stringify(registered));
  assert.is(await client.connect(), 200);
  return client;
}

it('1.x: register, appear as a legacy worker, exec with output at the end and the exit code kept', async (ctx) => {
  const client = new LegacyClient(ctx.base, { generation: 1, id: 'joe@build1/Xk3_a9', tags: ['linux', 'java'], envs: [] });
  const registered = await client.register(ctx.passkey);
  assert.equal(registered.projects, ['default']);
  assert.is(await client.connect(), 200);
  const listed = (await ctx.hub.management.listWorkers()).find((w) => w.id === 'joe@build1/Xk3_a9');
  assert.ok(listed, 'the legacy worker is listed');
  assert.is((listed as unknown as { platform: string }).platform, 'legacy-pubsub 1.x');
  assert.ok(ctx.hub.session('joe@build1/Xk3_a9'), 'connected');

  const events = run(ctx, client.id, { kind: 'exec', cmd: ['ls', '-l'], cwd: '/tmp' });
  const command = await client.next();
  assert.is(command.verb, 'worker.exec');
  assert.equal(command.payload, { cmd: ['ls', '-l'], chdir: '/tmp' });
  await client.ack(command);
  await client.publish('worker.result', { oid: command.oid, ret: '', rc: 3, output: 'out\nerr\n' });
  await client.publish('worker.done', { oid: command.oid });
  const all = await events;
  const output = all.filter((e) => e.type === 'output').map((e) => Buffer.from((e as { data: Uint8Array }).data).toString()).join('');
  assert.is(output, 'out\nerr\n');
  const exit = all.find((e) => e.type === 'exit') as Extract<JobEvent, { type: 'exit' }>;
  assert.is(exit.code, 3);
  assert.is(exit.timedOut, false);
});

it('tags and envs in dispatch, disable/enable on the hub side, an unknown env refused', async (ctx) => {
  await ctx.registry.addEnv('QA');
  const client = new LegacyClient(ctx.base, { generation: 1, id: 'qa@box1/e1', tags: ['java'], envs: ['QA'] });
  await client.register(ctx.passkey);
  assert.is(await client.connect(), 200);
  const byTags = ctx.hub.run({ target: { tags: ['java'], env: 'QA' }, job: { kind: 'probe', check: 'file_exists', path: '/' } });
  const events = lastValueFrom(byTags.pipe(toArray()));
  const command = await client.next();
  await client.ack(command);
  await client.publish('worker.file_exists.reply', { oid: command.oid, workerid: client.id, exists: 1 });
  const all = await events;
  assert.is((all[0] as Extract<JobEvent, { type: 'dispatched' }>).worker, 'qa@box1/e1');
  assert.is((all.at(-1) as { value: unknown }).value, true);

  await ctx.hub.management.disable(client.id);
  const disabled = await lastValueFrom(ctx.hub.run({ target: { worker: client.id }, job: { kind: 'exec', cmd: 'true' }, waitMs: 0 })).then(() => undefined, (e: unknown) => e);
  assert.is((disabled as ClaError).code, 'WORKER_DISABLED');
  await ctx.hub.management.enable(client.id);

  const stranger = new LegacyClient(ctx.base, { generation: 1, id: 'qa@box2/e2', envs: ['NOPE'] });
  await stranger.register(ctx.passkey);
  assert.is(await stranger.connect(), 400, 'an unknown env is refused before the stream opens');
  const longTag = new LegacyClient(ctx.base, { generation: 2, id: 'qa@box3', tags: ['x'.repeat(201)] });
  await longTag.register(ctx.passkey);
  assert.is(await longTag.connect(), 400, 'a tag that is not a valid name is refused');
});

it('eval, probe file_exists and capable (answered only when capable), errors as rc 99', async (ctx) => {
  const client = await connected(ctx, 2, 'joe@build1');
  const evaluated = run(ctx, client.id, { kind: 'eval', code: '1+41' });
  const evalCommand = await client.next();
  assert.is(evalCommand.verb, 'worker.eval');
  assert.equal(evalCommand.payload, { code: '1+41', stash: {} });
  await client.ack(evalCommand);
  await client.publish('worker.eval.done', { oid: evalCommand.oid, output: 'printed', ret: 42 });
  const evalResult = (await evaluated).find((e) => e.type === 'result') as Extract<JobEvent, { type: 'result' }>;
  assert.equal(evalResult.value, { value: 42, logs: 'printed', logsTruncated: false });

  const exists = run(ctx, client.id, { kind: 'probe', check: 'file_exists', path: '/etc/hosts' });
  const existsCommand = await client.next();
  assert.equal([existsCommand.verb, existsCommand.payload], ['worker.file_exists', { path: '/etc/hosts' }]);
  await client.ack(existsCommand);
  await client.publish('worker.file_exists.reply', { oid: existsCommand.oid, workerid: client.id, exists: 1 });
  assert.is(((await exists).at(-1) as { value: unknown }).value, true);

  const capable = run(ctx, client.id, { kind: 'probe', check: 'capable', tags: ['linux'] });
  const capableCommand = await client.next();
  assert.equal([capableCommand.verb, capableCommand.payload], ['worker.capable', { tags: ['linux'] }]);
  await client.ack(capableCommand);
  await client.publish('worker.capable.reply', { oid: capableCommand.oid, workerid: client.id, tags: ['linux'] });
  assert.is(((await capable).at(-1) as { value: unknown }).value, true);

  const notCapable = run(ctx, client.id, { kind: 'probe', check: 'capable', tags: ['windows'] });
  const notCommand = await client.next();
  await client.ack(notCommand); // and no reply, as the real clients do
  assert.is(((await notCapable).at(-1) as { value: unknown }).value, false);

  const refused = run(ctx, client.id, { kind: 'eval', code: 'x' }).then(() => undefined, (e: unknown) => e);
  const refusedCommand = await client.next();
  await client.ack(refusedCommand);
  const msg = 'during command worker.eval: verb "eval" is not allowed on this worker';
  await client.publish('worker.result', { oid: refusedCommand.oid, ret: msg, rc: 99, output: msg });
  const error = await refused;
  assert.instance(error, ClaError);
  assert.is((error as ClaError).code, 'POLICY_DENIED');
});

it('ship: the hub checks the sha256, spools to disk, the worker pops it', async (ctx) => {
  const client = await connected(ctx, 1, 'ann@web2/Q1w2e3');
  const local = path.join(ctx.dir, 'app.tar');
  const content = randomBytes(300_000);
  fs.writeFileSync(local, content);
  const shipped = shipFile(hubJobRunner(ctx.hub), { worker: client.id }, local, '/opt/app/app.tar');
  const command = await client.next();
  assert.is(command.verb, 'worker.put_file');
  assert.is(command.payload.filepath, '/opt/app/app.tar');
  await client.ack(command);
  const popped = await client.pop(String(command.payload.filekey));
  assert.is(popped.status, 200);
  assert.ok(popped.bytes.equals(content), 'the worker gets the exact bytes');
  await client.publish('worker.put_file.done', { oid: command.oid, filekey: command.payload.filekey, filepath: '/opt/app/app.tar' });
  const result = await shipped;
  assert.is(result.sha256, createHash('sha256').update(content).digest('hex'));
  assert.is((await client.pop(String(command.payload.filekey))).status, 404, 'a key is gone once the job ended');

  // A ship whose bytes do not match the announced sha256 never reaches the worker.
  let input: JobInput | undefined;
  const wrong = ctx.hub
    .run({ target: { worker: client.id }, job: { kind: 'ship', path: '/opt/app/x', size: 3, sha256: '0'.repeat(64) } }, { onInput: (given) => (input = given) })
    .pipe(tap((event) => event.type === 'credit' && input!.chunk(0, Buffer.from('abc'))));
  const failure = await lastValueFrom(wrong).then(() => undefined, (e: unknown) => e);
  assert.is((failure as ClaError).code, 'CHECKSUM_MISMATCH');
  assert.equal(fs.readdirSync(path.join(ctx.dir, 'spool')), [], 'nothing left in the spool');
});

it('fetch (2.x): the worker pushes chunked bytes, the hub spools, relays within credit and verifies', async (ctx) => {
  const client = await connected(ctx, 2, 'joe@db3');
  const local = path.join(ctx.dir, 'dump.sql');
  const content = randomBytes(700_000);
  const fetched = fetchFile(hubJobRunner(ctx.hub), { worker: client.id }, '/var/backups/dump.sql', local);
  const command = await client.next();
  assert.is(command.verb, 'worker.get_file');
  assert.is(command.payload.filepath, '/var/backups/dump.sql');
  await client.ack(command);
  const pushed = await client.push(String(command.payload.filekey), '/var/backups/dump.sql', content);
  assert.is(pushed.status, 200);
  await client.publish('worker.get_file.done', { oid: command.oid, filekey: command.payload.filekey, filepath: '/var/backups/dump.sql' });
  const result = await fetched;
  assert.is(result.bytes, content.length);
  assert.ok(fs.readFileSync(local).equals(content));

  const missing = fetchFile(hubJobRunner(ctx.hub), { worker: client.id }, '/nope', path.join(ctx.dir, 'nope')).then(() => undefined, (e: unknown) => e);
  const missingCommand = await client.next();
  await client.ack(missingCommand);
  await client.publish('worker.get_file.fail', { oid: missingCommand.oid, filekey: missingCommand.payload.filekey, filepath: '/nope', error: 'could not read file /nope: open /nope: no such file or directory' });
  const error = await missing;
  assert.is((error as ClaError).code, 'FILE_NOT_FOUND');
});

it('reconnect with Last-Event-ID gets what was missed; 2.x cancel; 1.x timeout ends the job on the hub', async (ctx) => {
  const client = await connected(ctx, 2, 'joe@ci4');
  const controller = new AbortController();
  const first = lastValueFrom(ctx.hub.run({ target: { worker: client.id }, job: { kind: 'exec', cmd: 'sleep 100' } }, { signal: controller.signal }).pipe(toArray()));
  const seen = await client.next();
  await client.ack(seen);
  client.drop();
  // Sent while the worker is away: it arrives after the reconnect, and the exec it saw does not come again.
  controller.abort();
  assert.ok(client.lastEventId.length > 0, 'the stream carried id: lines');
  assert.is(await client.connect(), 200);
  const cancel = await client.next();
  assert.is(cancel.verb, 'worker.exec.cancel');
  await client.ack(cancel);
  await client.publish('worker.result', { oid: seen.oid, ret: '', rc: 130, output: 'command cancelled by user' });
  const exit = (await first).find((e) => e.type === 'exit') as Extract<JobEvent, { type: 'exit' }>;
  assert.is(exit.cancelled, true);
  assert.is(exit.code, 130);

  // A job dispatched while the stream is down waits in the session and is replayed on reconnect.
  client.drop();
  const probe = run(ctx, client.id, { kind: 'probe', check: 'file_exists', path: '/x' });
  assert.is(await client.connect(), 200);
  const replayed = await client.next();
  assert.is(replayed.verb, 'worker.file_exists');
  await client.ack(replayed);
  await client.publish('worker.file_exists.reply', { oid: replayed.oid, exists: 0 });
  assert.is(((await probe).at(-1) as { value: unknown }).value, false);

  const old = await connected(ctx, 1, 'old@box/abc');
  const timed = run(ctx, old.id, { kind: 'exec', cmd: 'sleep 100', timeoutMs: 50 });
  await old.ack(await old.next());
  const all = await timed;
  const timedExit = all.find((e) => e.type === 'exit') as Extract<JobEvent, { type: 'exit' }>;
  assert.is(timedExit.timedOut, true);
  assert.ok(all.some((e) => e.type === 'output' && e.stream === 'stderr'), 'the hub says the 1.x worker could not stop it');
});

it('401 for a bad token, shutdown through /pubsub/close, unregister, ids kept apart, no token in logs or recordings', async (ctx) => {
  const stranger = new LegacyClient(ctx.base, { generation: 1, id: 'joe@build1/zzz', token: 'f'.repeat(32) });
  assert.is(await stranger.connect(), 401);

  const client = await connected(ctx, 1, 'joe@build1/sd1');
  await ctx.hub.management.shutdown(client.id);
  const command = await client.next();
  assert.is(command.verb, 'worker.shutdown');
  assert.is((await client.close()).status, 200);
  await ctx.hub.session(client.id)?.transport.closed;
  assert.is(ctx.hub.session(client.id), undefined, 'the session ended');

  const go = await connected(ctx, 2, 'ann@host9');
  const ended = go.ended();
  assert.equal(await go.unregister(), { deleted: 1 });
  await ended;
  assert.is(await go.connect(), 401, 'an unregistered worker is refused');

  // New-style ids cannot take the legacy forms, and a legacy plain id is not a new-style one.
  await ctx.registry.register({ passkey: ctx.passkey, id: 'joe@build1' }).then(() => assert.unreachable('accepted'), (e: Error) => assert.match(e.message, /Expected worker id/));
  const plain = new LegacyClient(ctx.base, { generation: 1, id: 'plainid' });
  await plain.register(ctx.passkey);
  await ctx.registry.register({ passkey: ctx.passkey, id: 'plainid' }).then(() => assert.unreachable('accepted'), (e: Error) => assert.match(e.message, /legacy Clarive worker/));
  await ctx.registry.register({ passkey: ctx.passkey, id: 'newstyle' });
  const taken = await new LegacyClient(ctx.base, { generation: 2, id: 'newstyle' }).register(ctx.passkey);
  assert.match(String(taken.error), /belongs to a cla-worker/);

  // The routes exist only with the option; a bad route under /pubsub is a JSON 404.
  assert.is((await request(`${ctx.base}/pubsub/nothing`, 'POST')).status, 404);

  await ctx.close();
  ctx.close = async () => undefined;
  const tokens = [client.token, go.token, plain.token];
  const log = fs.readFileSync(ctx.logFile, 'utf8');
  const recording = fs.readFileSync(ctx.recordFile, 'utf8');
  const decoded = recording.split('\n').filter((line) => line.includes('"b64"')).map((line) => Buffer.from(JSON.parse(line).b64, 'base64').toString('latin1')).join('\n');
  for (const token of tokens) {
    assert.not.ok(log.includes(token), 'no token in the log');
    assert.not.ok(decoded.includes(token), 'no token in the recording');
  }
  assert.ok(log.includes('legacy worker registered'), 'the log has the legacy lines');
});

it('a worker gone past the grace period loses its jobs; a new process of the same worker replaces the session', async (ctx) => {
  const store = openSqliteStore(path.join(ctx.dir, 'grace.db'));
  const registry = new Registry(store, systemClock);
  const passkey = (await registry.ensureDefaultProject()).passkey!;
  const hub = new Hub({ host: '127.0.0.1', port: 0, legacyPubsub: { spoolDir: path.join(ctx.dir, 'spool2'), reconnectGraceMs: 20 } }, { registry, metrics: new HubMetrics({ processMetrics: false }) });
  const base = (await hub.start()).replace(/^ws/, 'http');
  try {
    const client = new LegacyClient(base, { generation: 2, id: 'joe@flaky' });
    await client.register(passkey);
    assert.is(await client.connect(), 200);
    const lost = lastValueFrom(hub.run({ target: { worker: client.id }, job: { kind: 'exec', cmd: 'sleep 9' } })).then(() => undefined, (e: unknown) => e);
    await client.ack(await client.next());
    client.drop();
    assert.is(((await lost) as ClaError).code, 'WORKER_LOST');
    assert.is(await client.connect(), 200, 'it comes back as a new session');

    const held = lastValueFrom(hub.run({ target: { worker: client.id }, job: { kind: 'exec', cmd: 'sleep 9' } })).then(() => undefined, (e: unknown) => e);
    await client.ack(await client.next());
    // The same id from a new process: no Last-Event-ID of this session, while a command is acknowledged.
    const restarted = new LegacyClient(base, { generation: 2, id: 'joe@flaky', token: client.token });
    assert.is(await restarted.connect(), 200);
    assert.is(((await held) as ClaError).code, 'WORKER_LOST');
    restarted.drop();
    client.drop();
  } finally {
    await hub.stop();
    await store.close();
  }
});

it('without --legacy-pubsub the routes are not there', async (ctx) => {
  const store = openSqliteStore(path.join(ctx.dir, 'plain.db'));
  const hub = new Hub({ host: '127.0.0.1', port: 0 }, { registry: new Registry(store, systemClock), metrics: new HubMetrics({ processMetrics: false }) });
  const url = (await hub.start()).replace(/^ws/, 'http');
  const answer = await request(`${url}/pubsub/register?id=a&passkey=${ctx.passkey}`, 'POST');
  assert.is(answer.status, 404);
  assert.match(answer.body, /connect with a websocket/);
  await hub.stop();
  await store.close();
});

it.run();

const cli = suite<{ dir: string; cleanup: () => void }>('legacy-pubsub-cli');

cli.before.each((ctx) => {
  Object.assign(ctx, tempDir('cla-legacy-cli-'));
});

cli.after.each(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

cli('cla-hub start --legacy-pubsub: a legacy worker serves cla-hub exec and shows in workers list', async (ctx) => {
  const hub = await startHub(ctx.dir, ['--legacy-pubsub', '--admin-port', '0']);
  const client = new LegacyClient(hub.url.replace(/^ws/, 'http'), { generation: 2, id: 'joe@cli1', tags: ['linux'] });
  assert.type((await client.register(hub.passkey)).token, 'string');
  assert.is(await client.connect(), 200);
  const exec = runCli(HUB_BIN, ['exec', '--data', hub.data, '--worker', 'joe@cli1', '--', 'echo hi; exit 7'], { cwd: ctx.dir });
  const command = await client.next();
  assert.equal(command.payload, { cmd: 'echo hi; exit 7' });
  await client.ack(command);
  await client.publish('worker.result', { oid: command.oid, ret: '', rc: 7, output: 'hi\n' });
  await client.publish('worker.done', { oid: command.oid });
  const result = await exec;
  assert.is(result.code, 7, result.stderr);
  assert.is(result.stdout, 'hi\n');
  const list = await runCli(HUB_BIN, ['workers', 'list', '--json', '--data', hub.data], { cwd: ctx.dir });
  assert.match(list.stdout, /joe@cli1/);
  assert.match(list.stdout, /legacy-pubsub 2\.x/);
  const table = await runCli(HUB_BIN, ['workers', 'list', '--data', hub.data], { cwd: ctx.dir });
  assert.match(table.stdout, /joe@build1 \(legacy 2\.x\)/, table.stdout);
  assert.match(hub.process.stderr + hub.process.stdout, /without TLS/);
  assert.not.ok((hub.process.stderr + hub.process.stdout).includes(client.token), 'the token is not in the hub output');
});

cli.run();
