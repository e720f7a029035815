/**
 * The dashboard end to end in a real browser: Debian's chromium (`/usr/bin/chromium`, installed by
 * .ci/run; playwright-core never downloads one) drives the page served by a real `cla-hub start
 * --admin-port 0`, with a real `cla-worker run` started after the page is open. The page logs in with
 * the admin token, sees the worker appear and change state without a reload, draws the worker machine
 * with the current state highlighted, and its buttons disable (the hub then refuses `cla-hub exec` with
 * WORKER_DISABLED, exit 125), enable, unregister from one project and shut the worker down.
 *
 * Screenshots go to the test's temp dir, or to `$CLA_E2E_SCREENSHOTS` when set (to look at them).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CHROMIUM, launchBrowser, MISSING } from './browser.ts';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir, type LiveProcess, type RunningHub } from '../integration/processes.ts';

const ID = 'web1';

interface Context {
  dir: string;
  cleanup: () => void;
  hub: RunningHub;
  adminUrl: string;
  adminToken: string;
  workerToken: string;
  worker: LiveProcess;
  browser: BrowserContext;
  page: Page;
  problems: string[];
  shots: string;
  /** Why setting up failed: every test reports it (uvu drops errors thrown by `before`). */
  setupError?: Error;
}

const it = suite<Context>('dashboard');

function ready(ctx: Context): void {
  if (ctx.setupError) throw ctx.setupError;
}

const hubCli = (ctx: Context, ...args: string[]) => {
  const split = args.includes('--') ? args.indexOf('--') : args.length;
  return runCli(HUB_BIN, [...args.slice(0, split), '--data', ctx.hub.data, ...args.slice(split)], { cwd: ctx.dir });
};

/** The admin API with the bearer token, to compare the page with. */
async function adminGet<T>(ctx: Context, pathname: string): Promise<{ status: number; json: T }> {
  const res = await fetch(`${ctx.adminUrl}${pathname}`, { headers: { authorization: `Bearer ${ctx.adminToken}` } });
  return { status: res.status, json: (await res.json()) as T };
}

async function adminCall<T>(ctx: Context, method: string, params: Record<string, unknown>): Promise<{ status: number; json: T }> {
  const res = await fetch(`${ctx.adminUrl}/api/call/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  return { status: res.status, json: (await res.json()) as T };
}

const stateOf = (page: Page, text: string) => page.locator(`tr[data-worker-id="${ID}"] [data-testid="state"]`, { hasText: text });
const currentState = (page: Page, state: string) => page.locator(`svg[data-testid="machine"] g.state.current[data-state="${state}"]`);

it.before(async (ctx) => {
  Object.assign(ctx, tempDir('cla-e2e-'));
  ctx.problems = [];
  ctx.shots = process.env.CLA_E2E_SCREENSHOTS ?? ctx.dir;
  try {
    if (!fs.existsSync(CHROMIUM)) throw new Error(MISSING);
    ctx.hub = await startHub(ctx.dir, ['--admin-port', '0']);
    ctx.adminUrl = (await ctx.hub.process.waitFor(/admin API on (http:\/\/\S+)/))[1]!;
    ctx.adminToken = fs.readFileSync(`${ctx.hub.data}.admin-token`, 'utf8').trim();
    Object.assign(ctx, await launchBrowser(ctx.dir, ctx.problems, { width: 1400, height: 1000, timeoutMs: 15_000 }));
  } catch (error) {
    ctx.setupError = error as Error;
  }
});

it.after(async (ctx) => {
  await ctx.browser?.close().catch(() => undefined);
  await ctx.hub?.process.stop('SIGINT');
  await stopAll();
  ctx.cleanup();
});

it('chromium is installed (CI installs it; the test fails without it rather than skip)', (ctx) => {
  assert.ok(fs.existsSync(CHROMIUM), MISSING);
  ready(ctx);
});

it('the login form refuses a wrong token and accepts the admin token', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  const response = await page.goto(ctx.adminUrl);
  assert.match(String(response?.headers()['content-security-policy']), /default-src 'self'/);
  await page.locator('#login-form').waitFor();
  await page.fill('#token', 'f'.repeat(32));
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-error', { hasText: 'not the admin token' }).waitFor();
  await page.screenshot({ path: path.join(ctx.shots, 'dashboard-login.png') });
  await page.fill('#token', ctx.adminToken);
  await page.click('#login-form button[type=submit]');
  await page.locator('[data-testid="no-workers"]').waitFor();
  await page.locator('[data-testid="live"]', { hasText: 'live' }).waitFor();
  const cookies = await ctx.browser.cookies(ctx.adminUrl);
  const session = cookies.find((cookie) => cookie.name === 'cla_hub_session');
  assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  assert.is(session?.sameSite, 'Strict');
});

it('a worker registered and started after the page opened appears and goes live without a reload', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  await page.evaluate('window.__noReload = 42');
  const ops = await hubCli(ctx, 'project', 'create', 'ops');
  assert.is(ops.code, 0, ops.stderr);
  const opsPasskey = /passkey: ([0-9a-f]{32})/.exec(ops.stdout)![1]!;
  const register = (passkey: string, token?: string) =>
    runCli(WORKER_BIN, ['register', '--url', ctx.hub.url, '--passkey', passkey, '--id', ID, ...(token ? ['--token', token] : [])], { cwd: ctx.dir });
  const first = await register(ctx.hub.passkey);
  assert.is(first.code, 0, first.stderr);
  ctx.workerToken = /Registration token: ([0-9a-f]{32})/.exec(first.stdout)![1]!;
  const second = await register(opsPasskey, ctx.workerToken);
  assert.is(second.code, 0, second.stderr);
  ctx.worker = await startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', ID, '--token', ctx.workerToken, '--tags', 'e2e,linux']);
  await stateOf(page, 'connected.idle').waitFor();
  const row = page.locator(`tr[data-worker-id="${ID}"]`);
  assert.match(await row.innerText(), /default, ops/);
  assert.match(await row.innerText(), /e2e, linux/);
  assert.is(await page.evaluate('window.__noReload'), 42, 'the page was not reloaded');
  await page.screenshot({ path: path.join(ctx.shots, 'dashboard-workers.png'), fullPage: true });
});

it('the worker page draws its state machine with the current state highlighted', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  await page.click(`tr[data-worker-id="${ID}"] a`);
  assert.is(new URL(page.url()).hash, `#/workers/${ID}`);
  await currentState(page, 'connected.idle').waitFor();
  const svg = page.locator('svg[data-testid="machine"]');
  const states = await svg.locator('g.state').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-state')));
  for (const state of ['unregistered', 'registered', 'connecting', 'connected', 'connected.idle', 'connected.busy', 'disabled', 'reconnecting', 'stopping', 'shutdown']) {
    assert.ok(states.includes(state), `${state} is drawn (drawn: ${states.join(', ')})`);
  }
  assert.equal(await svg.locator('g.state.current').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-state'))), ['connected.idle']);
  assert.equal(await svg.locator('g.state.current-parent').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-state'))), ['connected']);
  assert.ok((await svg.locator('path.edge').count()) >= 15, 'the transitions are drawn');
  assert.ok((await svg.locator('path.edge[data-from="connected"][data-to="disabled"]').count()) === 1, 'DISABLE is drawn');
  assert.match(await page.locator('.shared-note').innerText(), /Shared by projects default, ops/);
  await svg.screenshot({ path: path.join(ctx.shots, 'dashboard-machine.png') });
});

it('disable asks first; then the hub refuses a job (WORKER_DISABLED, exit 125) and the page shows disabled', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  await page.click('[data-testid="disable"]');
  await page.locator('dialog#confirm', { hasText: 'shared by projects default, ops' }).waitFor();
  await page.click('[data-testid="confirm-cancel"]');
  assert.is(await page.locator('dialog#confirm').isVisible(), false);
  assert.is((await adminGet<{ disabled: boolean }>(ctx, `/api/workers/${ID}`)).json.disabled, false, 'cancel does nothing');

  await page.click('[data-testid="disable"]');
  await page.click('[data-testid="confirm-ok"]');
  await currentState(page, 'disabled').waitFor();
  await page.locator('[data-testid="current-state"]', { hasText: 'disabled' }).waitFor();
  await page.locator('[data-testid="notice"]', { hasText: 'disabling it affects all of them' }).waitFor();

  const refused = await hubCli(ctx, 'exec', '--worker', ID, '--', 'true');
  assert.is(refused.code, 125, refused.stderr);
  assert.match(refused.stderr, /WORKER_DISABLED/);
  assert.is(ctx.worker.child.exitCode, null, 'the worker process keeps running');
  assert.ok(await currentState(page, 'disabled').isVisible(), 'the page still shows disabled');
  assert.is(await page.locator('[data-testid="enable"]').isEnabled(), true);
  assert.is(await page.locator('[data-testid="disable"]').isEnabled(), false);
});

it('enable: a job succeeds and its output appears live, as text', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  await page.click('[data-testid="enable"]');
  await page.locator('dialog#confirm', { hasText: 'Enable worker' }).waitFor();
  await page.click('[data-testid="confirm-ok"]');
  await currentState(page, 'connected.idle').waitFor();
  const ok = await hubCli(ctx, 'exec', '--worker', ID, '--', "printf '<b>bold</b> hello-e2e\\n'");
  assert.is(ok.code, 0, ok.stderr);
  assert.is(ok.stdout, '<b>bold</b> hello-e2e\n');
  const output = page.locator('[data-testid="jobs"] pre.output', { hasText: 'hello-e2e' });
  await output.waitFor();
  assert.is(await output.innerText(), '<b>bold</b> hello-e2e\n');
  assert.is(await output.locator('b').count(), 0, 'output is text, not markup');
  await page.screenshot({ path: path.join(ctx.shots, 'dashboard-worker.png'), fullPage: true });
});

it('unregister from one project keeps the worker in the other', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  await page.click('[data-testid="unregister-ops"]');
  await page.locator('dialog#confirm', { hasText: 'It stays registered in default' }).waitFor();
  await page.click('[data-testid="confirm-ok"]');
  await page.locator('[data-testid="unregister-ops"]').waitFor({ state: 'detached' });
  assert.equal((await adminGet<{ projects: string[] }>(ctx, `/api/workers/${ID}`)).json.projects, ['default']);
  assert.is(await page.locator('.shared-note').count(), 0);
});

it('the jobs page lists the job with its outcome', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  await page.click('nav a[data-route="jobs"]');
  const row = page.locator('[data-testid="jobs-table"] tbody tr', { hasText: 'hello-e2e' });
  await row.waitFor();
  assert.match(await row.innerText(), new RegExp(`${ID}\\s+exec\\s+printf .*\\sok\\s+0\\s`));
});

it('projects: show, rotate and invalidate a passkey', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  await page.click('nav a[data-route="projects"]');
  await page.click('[data-testid="show-passkey-default"]');
  assert.is(await page.locator('[data-testid="passkey-default"]').innerText(), ctx.hub.passkey);
  await page.click('[data-testid="rotate-default"]');
  await page.locator('dialog#confirm', { hasText: 'stops working' }).waitFor();
  await page.click('[data-testid="confirm-ok"]');
  await page.locator('[data-testid="passkey-default"]', { hasNotText: ctx.hub.passkey }).waitFor();
  const rotated = await adminGet<{ passkey: string }>(ctx, '/api/projects/default/passkey');
  assert.is(await page.locator('[data-testid="passkey-default"]').innerText(), rotated.json.passkey);
  await page.click('[data-testid="invalidate-ops"]');
  await page.click('[data-testid="confirm-ok"]');
  await page.locator('tr[data-project="ops"]', { hasText: 'none (invalidated)' }).waitFor();
  assert.is((await adminGet<{ passkey: string | null }>(ctx, '/api/projects/ops/passkey')).json.passkey, null);
  await page.screenshot({ path: path.join(ctx.shots, 'dashboard-projects.png') });
});

it('workflow runs and tasks: a real run and a real task appear as rows (the workflows.list / tasks.list methods)', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  // A real run (no subscriber for `collect` here: it ends at once) and a real task (no handler: it waits).
  const run = await adminCall<{ run: string }>(ctx, 'workflows.run', { workflow: 'collect' });
  assert.is(run.status, 200, JSON.stringify(run.json));
  const task = await adminCall<{ id: string }>(ctx, 'tasks.submit', { name: 'e2e-task', attrs: { cloud: 'aws' }, data: { n: 1 }, deadlineMs: 600_000 });
  assert.is(task.status, 200, JSON.stringify(task.json));
  await page.click('nav a[data-route="workflows"]');
  const runRow = page.locator(`section[data-testid="workflows"] tr[data-id="${run.json.run}"]`);
  await runRow.waitFor();
  assert.match(await runRow.innerText(), /collect/);
  const taskRow = page.locator(`section[data-testid="tasks"] tr[data-id="${task.json.id}"]`);
  await taskRow.waitFor();
  assert.match(await taskRow.innerText(), /e2e-task[\s\S]*pending[\s\S]*cloud=aws/);
  await page.screenshot({ path: path.join(ctx.shots, 'dashboard-workflows.png') });
});

it('shutdown shows the seed warning; confirmed, the worker exits and the page shows it offline', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  await page.goto(`${ctx.adminUrl}/#/workers/${ID}`);
  await currentState(page, 'connected.idle').waitFor();
  await page.click('[data-testid="shutdown"]');
  await page.locator('dialog#confirm .warning', { hasText: 'Shutting down workers will kill the server process. After a shut down, restarting the worker requires manually logging into the server and starting the process.' }).waitFor();
  await page.screenshot({ path: path.join(ctx.shots, 'dashboard-shutdown-dialog.png') });
  await page.click('[data-testid="confirm-ok"]');
  const exit = await ctx.worker.exited;
  assert.is(exit.code, 0);
  await page.locator('[data-testid="current-state"]', { hasText: 'offline' }).waitFor();
  assert.is(await page.locator('svg[data-testid="machine"] g.state.current').count(), 0);
  await page.click('nav a[data-route="workers"]');
  await stateOf(page, 'offline').waitFor();
});

it('log out: back to the login form, and the session no longer works', async (ctx) => {
  ready(ctx);
  const { page } = ctx;
  await page.click('#logout');
  await page.locator('#login-error', { hasText: 'Logged out.' }).waitFor();
  assert.is(await page.locator('#app').isVisible(), false);
  const status = await page.evaluate("fetch('/api/workers').then((res) => res.status)");
  assert.is(status, 401);
});

it('no script errors or CSP violations on the way', (ctx) => {
  ready(ctx);
  assert.equal(ctx.problems, []);
});

it.run();
