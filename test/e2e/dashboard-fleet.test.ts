/**
 * The dashboard shows the whole fleet (issue 10), in a real browser: Debian's chromium drives the page of
 * hub 1 of two real `cla-hub start --engine` processes on one real nats-server, with a real worker on
 * each hub. Hub 1's page lists hub 2's worker with hub 2's id and its live state (the worker's own
 * `connected.idle`, not a placeholder), and follows it without a reload when it is disabled through hub 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CHROMIUM, launchBrowser, MISSING } from './browser.ts';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir, type RunningHub } from '../integration/processes.ts';
import { startNatsServer, type NatsServer } from '../integration/nats-server.ts';


interface Context {
  dir: string;
  cleanup: () => void;
  server: NatsServer;
  hubs: RunningHub[];
  hubIds: string[];
  adminUrl: string;
  adminToken: string;
  browser: BrowserContext;
  page: Page;
  problems: string[];
  setupError?: Error;
}

const it = suite<Context>('dashboard of a fleet');

it.before(async (ctx) => {
  Object.assign(ctx, tempDir('cla-e2e-fleet-'));
  ctx.problems = [];
  ctx.hubs = [];
  try {
    if (!fs.existsSync(CHROMIUM)) throw new Error(MISSING);
    ctx.server = await startNatsServer(path.join(ctx.dir, 'nats'));
    for (const [i, admin] of [[1, ['--admin-port', '0']], [2, ['--no-admin']]] as const) {
      const dir = path.join(ctx.dir, `hub${i}`);
      fs.mkdirSync(dir);
      ctx.hubs.push(await startHub(dir, ['--engine', ctx.server.url, ...admin]));
    }
    ctx.adminUrl = (await ctx.hubs[0]!.process.waitFor(/admin API on (http:\/\/\S+)/))[1]!;
    ctx.adminToken = fs.readFileSync(`${ctx.hubs[0]!.data}.admin-token`, 'utf8').trim();
    ctx.hubIds = ctx.hubs.map((hub) => (JSON.parse(fs.readFileSync(`${hub.data}.hub.json`, 'utf8')) as { hubId: string }).hubId);
    Object.assign(ctx, await launchBrowser(ctx.dir, ctx.problems, { width: 1600, height: 900, timeoutMs: 20_000 }));
  } catch (error) {
    ctx.setupError = error as Error;
  }
});

it.after(async (ctx) => {
  await ctx.browser?.close().catch(() => undefined);
  await stopAll();
  await ctx.server?.stop();
  ctx.cleanup();
});

const row = (page: Page, id: string) => page.locator(`tr[data-worker-id="${id}"]`);

it('hub 1\'s dashboard lists the workers of both hubs with their hub and live state, and follows hub 2\'s worker', async (ctx) => {
  if (ctx.setupError) throw ctx.setupError;
  const { page, hubs } = ctx;
  const [h1, h2] = hubs as [RunningHub, RunningHub];
  const [id1, id2] = ctx.hubIds as [string, string];
  assert.is.not(id1, id2);
  await page.goto(ctx.adminUrl);
  await page.fill('#token', ctx.adminToken);
  await page.click('#login-form button[type=submit]');
  await page.locator('[data-testid="live"]', { hasText: 'live' }).waitFor();
  for (const [id, hub] of [['fw1', h1], ['fw2', h2]] as const) {
    const registered = await runCli(WORKER_BIN, ['register', '--url', h1.url, '--passkey', h1.passkey, '--id', id], { cwd: ctx.dir });
    assert.is(registered.code, 0, registered.stderr);
    const token = /Registration token: ([0-9a-f]{32})/.exec(registered.stdout)![1]!;
    await startWorker(ctx.dir, ['--url', hub.url, '--id', id, '--token', token, '--tags', `on-${id}`]);
  }
  await row(page, 'fw1').locator('[data-testid="state"]', { hasText: 'connected.idle' }).waitFor();
  await row(page, 'fw2').locator('[data-testid="state"]', { hasText: 'connected.idle' }).waitFor();
  assert.is(await row(page, 'fw1').locator('[data-testid="hub"]').innerText(), id1);
  assert.is(await row(page, 'fw2').locator('[data-testid="hub"]').innerText(), id2);
  assert.match(await row(page, 'fw2').innerText(), /on-fw2/);
  assert.match(await page.locator('.summary').innerText(), /2 registered, 2 connected/);
  // Disabled through hub 1 while hub 2 holds it: the page follows without a reload.
  const disabled = await runCli(HUB_BIN, ['workers', 'disable', 'fw2', '--hub', h1.url, '--admin-token-file', `${h1.data}.admin-token`], { cwd: ctx.dir });
  assert.is(disabled.code, 0, disabled.stderr);
  await row(page, 'fw2').locator('[data-testid="state"]', { hasText: 'disabled' }).waitFor();
  assert.is(await row(page, 'fw2').locator('[data-testid="hub"]').innerText(), id2);
  await page.screenshot({ path: path.join(ctx.dir, 'dashboard-fleet.png'), fullPage: true });
  assert.equal(ctx.problems, []);
});

it.run();
