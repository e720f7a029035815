/**
 * The admin HTTP API against a real hub and listener on 127.0.0.1 port 0 with a real SQLite file:
 * authentication (bearer, browser session cookie), the CSRF guard, the Host check, errors as JSON with
 * their statuses, passkeys, jobs, the worker machine, /metrics and the dashboard's static files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SESSION_COOKIE } from '../../src/hub/admin-http-auth.ts';
import { request, startAdminHarness, type AdminHarness } from './admin-harness.ts';

const test = suite<{ h: AdminHarness }>('admin-http');

test.before(async (ctx) => {
  ctx.h = await startAdminHarness();
});

test.after(async (ctx) => {
  await ctx.h.close();
});

const sessionCookie = (setCookie: string[] | undefined) => /cla_hub_session=([0-9a-f]{64})/.exec(setCookie?.join('\n') ?? '')?.[1];

test('no token: 401 BAD_ADMIN_TOKEN as JSON', async ({ h }) => {
  const answer = await request(h, 'GET', '/api/workers');
  assert.is(answer.status, 401);
  assert.is(answer.json.error.code, 'BAD_ADMIN_TOKEN');
  assert.type(answer.json.error.message, 'string');
  assert.match(String(answer.headers['content-type']), /^application\/json/);
});

test('wrong token: 401; a bearer with the admin token: 200', async ({ h }) => {
  const wrong = await request(h, 'GET', '/api/workers', { bearer: 'f'.repeat(32) });
  assert.is(wrong.status, 401);
  assert.is(wrong.json.error.code, 'BAD_ADMIN_TOKEN');
  const ok = await request(h, 'GET', '/api/workers', { bearer: h.token });
  assert.is(ok.status, 200, ok.text);
  assert.equal(ok.json, []);
});

test('the token is never accepted in a URL', async ({ h }) => {
  const answer = await request(h, 'GET', `/api/workers?token=${h.token}`);
  assert.is(answer.status, 400);
  assert.is(answer.json.error.code, 'INVALID_ARGUMENT');
});

test('browser login sets an HttpOnly SameSite=Strict cookie; logout ends the session', async ({ h }) => {
  const bad = await request(h, 'POST', '/api/login', { body: { token: 'nope' } });
  assert.is(bad.status, 401);
  assert.is(bad.headers['set-cookie'], undefined);

  const login = await request(h, 'POST', '/api/login', { body: { token: h.token } });
  assert.is(login.status, 200, login.text);
  const header = login.headers['set-cookie']!.join('\n');
  assert.match(header, /HttpOnly/);
  assert.match(header, /SameSite=Strict/);
  assert.match(header, /Max-Age=43200/);
  assert.not.match(header, new RegExp(h.token), 'the cookie is a session id, not the token');
  const id = sessionCookie(login.headers['set-cookie']);
  assert.ok(id);
  const cookie = `${SESSION_COOKIE}=${id}`;

  const listed = await request(h, 'GET', '/api/workers', { headers: { cookie } });
  assert.is(listed.status, 200, listed.text);
  const session = await request(h, 'GET', '/api/session', { headers: { cookie } });
  assert.is(session.json.auth, 'cookie');

  const logout = await request(h, 'POST', '/api/logout', { headers: { cookie }, body: {} });
  assert.is(logout.status, 200);
  assert.match(logout.headers['set-cookie']!.join('\n'), /Max-Age=0/);
  const after = await request(h, 'GET', '/api/workers', { headers: { cookie } });
  assert.is(after.status, 401);
  const forged = await request(h, 'GET', '/api/workers', { headers: { cookie: `${SESSION_COOKIE}=${'a'.repeat(64)}` } });
  assert.is(forged.status, 401);
});

test('CSRF guard: POST needs content-type application/json and a same-origin Origin', async ({ h }) => {
  await h.registry.createProject('csrf');
  const login = await request(h, 'POST', '/api/login', { body: { token: h.token } });
  const cookie = `${SESSION_COOKIE}=${sessionCookie(login.headers['set-cookie'])}`;
  const form = await request(h, 'POST', '/api/projects/csrf/passkey/rotate', { headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
  assert.is(form.status, 415);
  assert.is(form.json.error.code, 'INVALID_ARGUMENT');
  const plain = await request(h, 'POST', '/api/projects/csrf/passkey/rotate', { headers: { cookie, 'content-type': 'text/plain' }, body: '{}' });
  assert.is(plain.status, 415);
  const loginForm = await request(h, 'POST', '/api/login', { headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ token: h.token }) });
  assert.is(loginForm.status, 415);
  assert.is(loginForm.headers['set-cookie'], undefined);
  const crossSite = await request(h, 'POST', '/api/projects/csrf/passkey/rotate', { headers: { cookie, origin: 'http://evil.example' }, body: {} });
  assert.is(crossSite.status, 403);
  const before = await h.registry.passkey('csrf');
  assert.is(await h.registry.passkey('csrf'), before, 'nothing was rotated');
  const sameSite = await request(h, 'POST', '/api/projects/csrf/passkey/rotate', { headers: { cookie, origin: h.adminUrl }, body: {} });
  assert.is(sameSite.status, 200, sameSite.text);
  assert.is.not(sameSite.json.passkey, before);
  const get = await request(h, 'GET', '/api/projects/csrf/passkey/rotate', { bearer: h.token });
  assert.is(get.status, 405, 'a mutation is never a GET');
});

test('only loopback Host names are answered (DNS rebinding)', async ({ h }) => {
  const port = new URL(h.adminUrl).port;
  const rebound = await request(h, 'GET', '/metrics', { headers: { host: `evil.example:${port}` } });
  assert.is(rebound.status, 421);
  // A name that merely starts like a loopback address resolves wherever its owner wants (issue 11, case 12).
  for (const host of ['127.0.0.1.evil.example', '127.0.0.1.nip.io', '127.evil.example', 'localhost.evil.example']) {
    const lookalike = await request(h, 'GET', '/metrics', { headers: { host: `${host}:${port}` } });
    assert.is(lookalike.status, 421, host);
  }
  const other127 = await request(h, 'GET', '/metrics', { headers: { host: `127.0.0.2:${port}` } });
  assert.is(other127.status, 200);
  const local = await request(h, 'GET', '/metrics', { headers: { host: `localhost:${port}` } });
  assert.is(local.status, 200);
});

test('unknown worker / project: 404 with their codes; bad arguments: 400', async ({ h }) => {
  const auth = { bearer: h.token };
  const worker = await request(h, 'GET', '/api/workers/nosuch', auth);
  assert.is(worker.status, 404);
  assert.is(worker.json.error.code, 'UNKNOWN_WORKER');
  for (const action of ['disable', 'enable', 'shutdown']) {
    const answer = await request(h, 'POST', `/api/workers/nosuch/${action}`, { ...auth, body: {} });
    assert.is(answer.status, 404, action);
    assert.is(answer.json.error.code, 'UNKNOWN_WORKER');
  }
  const project = await request(h, 'GET', '/api/workers?project=nosuch', auth);
  assert.is(project.status, 404);
  assert.is(project.json.error.code, 'UNKNOWN_PROJECT');
  const passkey = await request(h, 'GET', '/api/projects/nosuch/passkey', auth);
  assert.is(passkey.json.error.code, 'UNKNOWN_PROJECT');
  const noProject = await request(h, 'POST', '/api/workers/nosuch/unregister', { ...auth, body: {} });
  assert.is(noProject.status, 400);
  assert.is(noProject.json.error.code, 'INVALID_ARGUMENT');
  const badJson = await request(h, 'POST', '/api/workers/nosuch/unregister', { ...auth, body: '{"project":' });
  assert.is(badJson.status, 400);
  const limit = await request(h, 'GET', '/api/jobs?limit=abc', auth);
  assert.is(limit.status, 400);
  assert.is((await request(h, 'GET', '/api/jobs?limit=0', auth)).status, 400);
  const route = await request(h, 'GET', '/api/nothing-here', auth);
  assert.is(route.status, 404);
});

test('passkey: show, rotate (old one stops working), invalidate', async ({ h }) => {
  const auth = { bearer: h.token };
  const created = await h.registry.createProject('keys');
  const shown = await request(h, 'GET', '/api/projects/keys/passkey', auth);
  assert.equal(shown.json, { project: 'keys', passkey: created.passkey });
  const rotated = await request(h, 'POST', '/api/projects/keys/passkey/rotate', { ...auth, body: {} });
  assert.match(rotated.json.passkey, /^[0-9a-f]{32}$/);
  assert.is.not(rotated.json.passkey, created.passkey);
  await h.registry.register({ passkey: created.passkey }).then(() => assert.unreachable('the old passkey was accepted'), (e: { code?: string }) => assert.is(e.code, 'BAD_PASSKEY'));
  const invalidated = await request(h, 'POST', '/api/projects/keys/passkey/invalidate', { ...auth, body: {} });
  assert.equal(invalidated.json, { project: 'keys', passkey: null });
  const projects = await request(h, 'GET', '/api/projects', auth);
  const keys = projects.json.find((p: { name: string }) => p.name === 'keys');
  assert.equal(keys, { name: 'keys', hasPasskey: false, createdAt: keys.createdAt, workers: 0, connected: 0 });
  assert.not.ok(JSON.stringify(projects.json).includes(rotated.json.passkey), 'the project list never shows passkeys');
});

test('GET /api/machines/worker is the worker machine as JSON', async ({ h }) => {
  const answer = await request(h, 'GET', '/api/machines/worker', { bearer: h.token });
  assert.is(answer.status, 200);
  assert.is(answer.json.id, 'worker');
  assert.ok(answer.json.states.connected, 'has the connected state');
});

test('GET /metrics needs no token and is Prometheus text', async ({ h }) => {
  const answer = await request(h, 'GET', '/metrics');
  assert.is(answer.status, 200);
  assert.match(String(answer.headers['content-type']), /^text\/plain/);
  assert.match(answer.text, /^cla_hub_connected_workers 0$/m);
});

test('static dashboard files: index at /, content types, no traversal, 404 without the folder', async ({ h }) => {
  const missing = await request(h, 'GET', '/');
  assert.is(missing.status, 404, 'no dashboard folder: 404');
  const root = path.join(h.dir, 'dashboard');
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>workers</title>');
  fs.writeFileSync(path.join(root, 'assets', 'app.js'), 'console.log(1)');
  fs.writeFileSync(path.join(root, 'assets', 'app.css'), 'body{}');
  fs.writeFileSync(path.join(root, '.secret'), 'HIDDEN-CONTENT');
  fs.writeFileSync(path.join(h.dir, 'outside.txt'), 'OUTSIDE-CONTENT');
  fs.symlinkSync(path.join(h.dir, 'outside.txt'), path.join(root, 'assets', 'link.txt'));

  const index = await request(h, 'GET', '/');
  assert.is(index.status, 200);
  assert.match(String(index.headers['content-type']), /^text\/html/);
  assert.match(String(index.headers['content-security-policy']), /default-src 'self'/);
  assert.match(index.text, /<title>workers<\/title>/);
  const js = await request(h, 'GET', '/assets/app.js');
  assert.match(String(js.headers['content-type']), /^text\/javascript/);
  const css = await request(h, 'GET', '/assets/app.css');
  assert.match(String(css.headers['content-type']), /^text\/css/);
  for (const sneaky of ['/../outside.txt', '/assets/%2e%2e/%2e%2e/outside.txt', '/assets/..%2F..%2Foutside.txt', '/.secret', '/assets/link.txt', '/assets/app.js%00.html']) {
    const answer = await request(h, 'GET', sneaky);
    assert.is(answer.status, 404, sneaky);
    assert.not.match(answer.text, /OUTSIDE-CONTENT|HIDDEN-CONTENT/, sneaky);
  }
});

test.run();
