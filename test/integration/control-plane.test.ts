/**
 * Issue 8: every `cla-hub` command that concerns a running hub works from a folder that holds no data
 * file, given only the hub's URL and the admin token (and once over wss with a private CA and client
 * certificates). Real processes: `cla-hub start` (port 0, admin port 0), a `cla-worker run` with the fs
 * plugin and an `echo` task handler, and each CLI command as a user types it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from 'ws';
import { Validator } from '@seriousme/openapi-schema-validator';
import { adminTokenFile } from '../../src/hub/hub-record.ts';
import { registerWorker } from '../../src/worker/registration.ts';
import { HUB_BIN, WORKER_BIN, runCli, startCli, startHub, stopAll, tempDir, type LiveProcess, type RunningHub } from './processes.ts';
import { makeCerts } from './tls-certs.ts';

interface Ctx {
  hub: RunningHub;
  hubDir: ReturnType<typeof tempDir>;
  client: ReturnType<typeof tempDir>;
  tokenFile: string;
  tree: string;
  worker: LiveProcess;
  adminUrl: string;
}

const it = suite<Ctx>('control plane: every command from another folder with a URL and a token', {} as Ctx);

it.before(async (ctx) => {
  ctx.hubDir = tempDir('cla-cp-hub-');
  ctx.client = tempDir('cla-cp-client-');
  ctx.tree = path.join(ctx.hubDir.dir, 'tree');
  fs.mkdirSync(ctx.tree);
  fs.writeFileSync(path.join(ctx.tree, 'old.tmp'), 'x');
  ctx.hub = await startHub(ctx.hubDir.dir, ['--record', path.join(ctx.hubDir.dir, 'hub.rec')]);
  ctx.adminUrl = (await ctx.hub.process.waitFor(/admin API on (http:\/\/\S+)/))[1]!;
  // The client folder gets a copy of the token and nothing else.
  ctx.tokenFile = path.join(ctx.client.dir, 'admin.token');
  fs.copyFileSync(adminTokenFile(ctx.hub.data), ctx.tokenFile);
  const { token } = await registerWorker({ url: ctx.hub.url, passkey: ctx.hub.passkey, id: 'cp1' });
  ctx.worker = startCli(
    WORKER_BIN,
    ['run', '--url', ctx.hub.url, '--id', 'cp1', '--token', token, '--tags', 'cp', '--root', ctx.hubDir.dir, '--plugin', 'fs', '--override', `fs.roots=${ctx.tree}`, '--override', 'fs.pattern=*.tmp', '--task-handler', 'echo'],
    { cwd: ctx.hubDir.dir },
  );
  await ctx.worker.waitFor(/connected to the hub/);
});

it.after(async (ctx) => {
  await ctx.worker?.stop();
  await ctx.hub?.process.stop('SIGINT');
  await stopAll();
  ctx.hubDir?.cleanup();
  ctx.client?.cleanup();
});

/** `cla-hub --hub URL --admin-token-file F ...` run in the client folder, with no CLA_* variables. */
const cli = (ctx: Ctx, ...args: string[]) => runCli(HUB_BIN, ['--hub', ctx.hub.url, '--admin-token-file', ctx.tokenFile, ...args], { cwd: ctx.client.dir, timeoutMs: 60_000 });

it('the client folder holds no data file and the CLI never creates one', (ctx) => {
  assert.equal(fs.readdirSync(ctx.client.dir), ['admin.token']);
});

it('project create / list / passkey show, rotate, invalidate; env add / list', async (ctx) => {
  const created = await cli(ctx, 'project', 'create', 'remote1');
  assert.is(created.code, 0, created.stderr);
  const passkey = /passkey: ([0-9a-f]{32})/.exec(created.stdout)![1]!;
  assert.match((await cli(ctx, 'project', 'list')).stdout, /^remote1$/m);
  assert.match((await cli(ctx, 'project', 'passkey', 'remote1')).stdout, new RegExp(passkey));
  const rotated = await cli(ctx, 'project', 'passkey', 'remote1', '--rotate');
  assert.is(rotated.code, 0, rotated.stderr);
  assert.not.match(rotated.stdout, new RegExp(passkey));
  const invalidated = await cli(ctx, 'project', 'passkey', 'remote1', '--invalidate');
  assert.is(invalidated.code, 0, invalidated.stderr);
  assert.match((await cli(ctx, 'project', 'passkey', 'remote1')).stderr, /has no passkey/);
  assert.is((await cli(ctx, 'env', 'add', 'STAGE')).code, 0);
  assert.match((await cli(ctx, 'env', 'list')).stdout, /^STAGE$/m);
});

it('workers list / show / disable / enable / jobs', async (ctx) => {
  const list = await cli(ctx, 'workers', 'list', '--json');
  assert.is(list.code, 0, list.stderr);
  assert.ok((JSON.parse(list.stdout) as Array<{ id: string; connected: boolean }>).some((w) => w.id === 'cp1' && w.connected));
  assert.match((await cli(ctx, 'workers', 'show', 'cp1')).stdout, /cp1/);
  assert.match((await cli(ctx, 'workers', 'disable', 'cp1')).stdout, /disabled/);
  assert.match((await cli(ctx, 'workers', 'enable', 'cp1')).stdout, /enabled/);
  assert.is((await cli(ctx, 'workers', 'jobs')).code, 0);
});

it('exec, ship, fetch, eval, probe, rulebook run', async (ctx) => {
  const exec = await cli(ctx, 'exec', '--worker', 'cp1', '--', 'echo remote-hello');
  assert.is(exec.code, 0, exec.stderr);
  assert.is(exec.stdout, 'remote-hello\n');
  const local = path.join(ctx.client.dir, 'up.txt');
  fs.writeFileSync(local, 'shipped bytes\n');
  const remote = path.join(ctx.hubDir.dir, 'landed.txt');
  const ship = await cli(ctx, 'ship', '--worker', 'cp1', local, remote);
  assert.is(ship.code, 0, ship.stderr);
  assert.is(fs.readFileSync(remote, 'utf8'), 'shipped bytes\n');
  const back = path.join(ctx.client.dir, 'back.txt');
  const fetched = await cli(ctx, 'fetch', '--worker', 'cp1', remote, back);
  assert.is(fetched.code, 0, fetched.stderr);
  assert.is(fs.readFileSync(back, 'utf8'), 'shipped bytes\n');
  const evaluated = await cli(ctx, 'eval', '--worker', 'cp1', 'return 6 * 7');
  assert.is(evaluated.code, 0, evaluated.stderr);
  assert.is(evaluated.stdout.trim(), '42');
  const probe = await cli(ctx, 'probe', '--worker', 'cp1', 'capable', 'cp');
  assert.is(probe.code, 0, probe.stderr);
  assert.is(probe.stdout.trim(), 'true');
  const book = path.join(ctx.client.dir, 'book.yml');
  fs.writeFileSync(book, "do:\n  - shell:\n      worker: { tags: ['cp'] }\n      cmd: echo from-rulebook\n");
  const ran = await cli(ctx, 'rulebook', 'run', book);
  assert.is(ran.code, 0, ran.stderr);
  assert.match(ran.stdout, /from-rulebook/);
});

it('task submit (--wait) / list / show', async (ctx) => {
  const submitted = await cli(ctx, 'task', 'submit', 'echo', '--data', '{"remote":true}', '--wait');
  assert.is(submitted.code, 0, submitted.stderr);
  const [id, result] = submitted.stdout.trim().split('\n');
  assert.is(result, '{"remote":true}');
  assert.match((await cli(ctx, 'task', 'list')).stdout, new RegExp(`${id}\\s+echo\\s+done`));
  const shown = await cli(ctx, 'task', 'show', id!, '--json');
  assert.is((JSON.parse(shown.stdout) as { state: string }).state, 'done');
});

it('workflow definitions / run --wait / list / show / event / abort; resources summary / search / tag', async (ctx) => {
  const definitions = await cli(ctx, 'workflow', 'definitions');
  assert.is(definitions.code, 0, definitions.stderr);
  assert.match(definitions.stdout, /collect_and_cleanup/);
  const run = await cli(ctx, 'workflow', 'run', 'collect', '--wait', '--timeout', '60');
  assert.is(run.code, 0, run.stderr);
  const id = /run (\S+) of collect started/.exec(run.stdout)![1]!;
  assert.match(run.stdout + run.stderr, new RegExp(`run ${id} succeeded`));
  assert.match((await cli(ctx, 'workflow', 'list')).stdout, new RegExp(`${id}\\s+collect\\s+succeeded`));
  assert.match((await cli(ctx, 'workflow', 'show', id)).stdout, /step 1: collect/);
  const event = await cli(ctx, 'workflow', 'event', 'nobody-listens');
  assert.is(event.code, 0, event.stderr);
  assert.match(event.stderr, /no workflow has an `event: nobody-listens` trigger/);
  const abort = await cli(ctx, 'workflow', 'abort', id);
  assert.is(abort.code, 2, 'the hub refuses to abort a finished run: bad input');
  assert.match(abort.stderr, /is not active \(succeeded\) \[INVALID_ARGUMENT\]/);

  const summary = await cli(ctx, 'resources', 'summary');
  assert.match(summary.stdout, /cp1\s+fs\s+\d+/);
  const found = await cli(ctx, 'resources', 'search', '--json', 'kind = file and worker = cp1');
  const resources = JSON.parse(found.stdout) as Array<{ id: string }>;
  const old = resources.find((r) => r.id.endsWith('old.tmp'));
  assert.ok(old, found.stdout);
  const tagged = await cli(ctx, 'resources', 'tag', old.id, 'owner=remote');
  assert.is(tagged.code, 0, tagged.stderr);
  assert.match(tagged.stdout, /task \S+: tag .*old\.tmp on worker cp1/);
});

it('replay --from-hub prints the hub-side recording with secrets masked', async (ctx) => {
  const replay = await cli(ctx, 'replay', '--from-hub', '--limit', '5000');
  assert.is(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /admin_hello/);
  const token = fs.readFileSync(ctx.tokenFile, 'utf8').trim();
  assert.not.ok(replay.stdout.includes(token), 'the admin token is masked');
});

it('CLA_HUB_URL + CLA_HUB_ADMIN_TOKEN, and `cla-hub login` then no flags at all', async (ctx) => {
  const token = fs.readFileSync(ctx.tokenFile, 'utf8').trim();
  const viaEnv = await runCli(HUB_BIN, ['workers', 'list'], { cwd: ctx.client.dir, env: { CLA_HUB_URL: ctx.hub.url, CLA_HUB_ADMIN_TOKEN: token } });
  assert.is(viaEnv.code, 0, viaEnv.stderr);
  assert.match(viaEnv.stdout, /cp1/);
  const home = path.join(ctx.client.dir, 'home');
  const login = await runCli(HUB_BIN, ['--hub', ctx.hub.url, '--admin-token-file', ctx.tokenFile, 'login'], { cwd: ctx.client.dir, env: { HOME: home } });
  assert.is(login.code, 0, login.stderr);
  const config = path.join(home, '.config', 'cla-hub', 'client.yml');
  assert.is(fs.statSync(config).mode & 0o777, 0o600);
  const bare = await runCli(HUB_BIN, ['workers', 'list'], { cwd: ctx.client.dir, env: { HOME: home } });
  assert.is(bare.code, 0, bare.stderr);
  assert.match(bare.stdout, /cp1/);
});

it('bad input: no hub found (2), wrong token (125), unreachable (125), hub id mismatch (125, token never sent)', async (ctx) => {
  const none = await runCli(HUB_BIN, ['workers', 'list'], { cwd: ctx.client.dir, env: { HOME: path.join(ctx.client.dir, 'nohome') } });
  assert.is(none.code, 2, none.stderr);
  assert.match(none.stderr, /No hub to talk to: pass --hub URL.*\[CONFIG_MISSING\]/);
  const wrongToken = path.join(ctx.client.dir, 'wrong.token');
  fs.writeFileSync(wrongToken, 'f'.repeat(64));
  const refused = await runCli(HUB_BIN, ['--hub', ctx.hub.url, '--admin-token-file', wrongToken, 'workers', 'list'], { cwd: ctx.client.dir });
  assert.is(refused.code, 125, refused.stderr);
  assert.match(refused.stderr, /BAD_ADMIN_TOKEN/);
  const down = await runCli(HUB_BIN, ['--hub', 'ws://127.0.0.1:1', '--admin-token-file', ctx.tokenFile, 'task', 'list'], { cwd: ctx.client.dir });
  assert.is(down.code, 125, down.stderr);
  assert.match(down.stderr, /Is the hub running\?.*\[CONNECTION_FAILED\]/);

  // Another program on the recorded port: the CLI leaves before sending anything.
  const received: unknown[] = [];
  const impostor = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  impostor.on('connection', (ws) => ws.on('message', (data) => received.push(data)));
  await new Promise((resolve) => impostor.once('listening', resolve));
  const port = (impostor.address() as { port: number }).port;
  const data = path.join(ctx.client.dir, 'gone.sqlite');
  fs.writeFileSync(`${data}.hub.json`, JSON.stringify({ hubId: 'the-hub-that-was-here', url: `ws://127.0.0.1:${port}`, adminUrl: null, pid: 1, startedAt: 0 }));
  fs.writeFileSync(`${data}.admin-token`, 'secret-token-never-sent');
  const mismatch = await runCli(HUB_BIN, ['workers', 'list', '--data', data], { cwd: ctx.client.dir });
  await new Promise((resolve) => impostor.close(resolve));
  assert.is(mismatch.code, 125, mismatch.stderr);
  assert.match(mismatch.stderr, /not the hub this CLI found recorded.*Nothing was sent.*\[HUB_MISMATCH\]/);
  assert.equal(received, [], 'no frame (and so no token) reached the impostor');
  assert.not.ok(fs.existsSync(data), 'the CLI did not create a data file');
});

it('the HTTP API: POST /api/call/<method>, refusals with their code, and a valid OpenAPI 3.1 document', async (ctx) => {
  const token = fs.readFileSync(ctx.tokenFile, 'utf8').trim();
  const call = (method: string, body: unknown, auth = true) =>
    fetch(`${ctx.adminUrl}/api/call/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  const listed = await call('workers.list', {});
  assert.is(listed.status, 200);
  assert.ok(((await listed.json()) as Array<{ id: string }>).some((w) => w.id === 'cp1'));
  const unknown = await call('workers.fly', {});
  assert.is(unknown.status, 404);
  assert.is(((await unknown.json()) as { error: { code: string } }).error.code, 'UNKNOWN_METHOD');
  const bad = await call('workers.show', { id: 7 });
  assert.is(bad.status, 400);
  assert.match(((await bad.json()) as { error: { code: string; message: string } }).error.message, /Bad params for `workers.show`: `id`/);
  const anonymous = await call('workers.list', {}, false);
  assert.is(anonymous.status, 401);
  const document = (await (await fetch(`${ctx.adminUrl}/api/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
  assert.is(document.openapi, '3.1.0');
  assert.ok(document.paths['/api/call/tasks.submit'], 'every call method has a path');
  const validator = new Validator();
  const result = await validator.validate(document as never);
  assert.ok(result.valid, JSON.stringify(result.errors));
});

it.run();

const tls = suite<{ dir: ReturnType<typeof tempDir>; hub: RunningHub; worker: LiveProcess }>('control plane over wss with a private CA and client certificates', {} as never);

tls.before(async (ctx) => {
  ctx.dir = tempDir('cla-cp-tls-');
});

tls.after(async (ctx) => {
  await ctx.worker?.stop();
  await ctx.hub?.process.stop('SIGINT');
  await stopAll();
  ctx.dir?.cleanup();
});

tls('workers list, exec, task submit --wait with --ca-cert --cert --cert-key --cert-key-pass; refused without a client certificate', async (ctx) => {
  const certs = makeCerts(ctx.dir.dir);
  const hubDir = path.join(ctx.dir.dir, 'hub');
  const clientDir = path.join(ctx.dir.dir, 'client');
  fs.mkdirSync(hubDir);
  fs.mkdirSync(clientDir);
  ctx.hub = await startHub(hubDir, ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--client-ca', certs.ca, '--psk', 'cp-mtls']);
  assert.match(ctx.hub.url, /^wss:\/\//);
  const tlsWorker = ['--ca-cert', certs.ca, '--cert', certs.clientCert, '--cert-key', certs.clientKey, '--cert-key-pass', certs.clientKeyPass];
  ctx.worker = startCli(WORKER_BIN, ['run', '--url', ctx.hub.url, '--psk', 'cp-mtls', '--subscriber-id', 'tls1', '--task-handler', 'echo', ...tlsWorker], { cwd: hubDir });
  await ctx.worker.waitFor(/connected to the hub/);
  const tokenFile = path.join(clientDir, 'token');
  fs.copyFileSync(adminTokenFile(ctx.hub.data), tokenFile);
  const run = (...args: string[]) => runCli(HUB_BIN, ['--hub', ctx.hub.url, '--admin-token-file', tokenFile, ...args], { cwd: clientDir, timeoutMs: 60_000 });

  const list = await run(...tlsWorker, 'workers', 'list');
  assert.is(list.code, 0, list.stderr);
  assert.match(list.stdout, /tls1/);
  const exec = await run('exec', '--worker', 'tls1', ...tlsWorker, '--', 'echo over-mtls');
  assert.is(exec.code, 0, exec.stderr);
  assert.is(exec.stdout, 'over-mtls\n');
  const task = await run('task', 'submit', 'echo', '--data', '"tls"', '--wait', ...tlsWorker);
  assert.is(task.code, 0, task.stderr);
  assert.is(task.stdout.trim().split('\n')[1], '"tls"');

  const noClientCert = await run('--ca-cert', certs.ca, 'workers', 'list');
  assert.is(noClientCert.code, 125, noClientCert.stderr);
  assert.match(noClientCert.stderr, /\[(TLS_CONFIG|CONNECTION_FAILED)\]/);
  const untrusted = await run('workers', 'list');
  assert.is(untrusted.code, 125, untrusted.stderr);
  assert.match(untrusted.stderr, /certificate|self.signed|unable to verify/i);
});

tls.run();
