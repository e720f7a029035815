/**
 * Debian's chromium for the browser tests (`/usr/bin/chromium`, installed by .ci/run; playwright-core never
 * downloads one): one persistent context in the test's folder, one page whose script errors and CSP
 * violations are collected.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CLA_E2E_CHROMIUM ?? '/usr/bin/chromium';
export const MISSING = `Debian's chromium is not installed at ${CHROMIUM}: run \`apt-get install -y --no-install-recommends chromium\` (.ci/run installs it when missing). The browser tests do not download a browser.`;

/** Launches chromium with its profile in `dir`; errors the page logs go to `problems`. */
export async function launchBrowser(dir: string, problems: string[], options: { width: number; height: number; timeoutMs: number }): Promise<{ browser: BrowserContext; page: Page }> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(MISSING);
  // playwright-core already passes most of these (it adds --headless, --no-sandbox and the
  // background-networking switches itself); they are listed so the intent does not depend on its
  // defaults. It refuses --user-data-dir in `args`: a persistent context puts the profile in our temp dir.
  const browser = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: options.width, height: options.height },
    timeout: 30_000,
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(options.timeoutMs);
  // Script errors and CSP violations (inline script or style) show up here.
  // (The browser also logs every 401/404 answer, which the login and the workflow probe expect.)
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/^Failed to load resource: the server responded with a status of 40[14]/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return { browser, page };
}
