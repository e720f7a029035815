/**
 * Issue 11, case 15: TLS mistakes on the worker are configuration errors. `cla-worker run` against a real
 * wss:// hub that requires client certificates stops at once with exit 1 (TLS_CONFIG) and a sentence
 * naming the option to fix, instead of retrying forever with OpenSSL's text.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WORKER_BIN, runCli, startHub, stopAll, tempDir, type RunningHub } from './processes.ts';
import { makeCerts, type TestCerts } from './tls-certs.ts';

const it = suite<{ dir: string; cleanup: () => void; certs: TestCerts; hub: RunningHub }>('worker-tls-errors');

it.before(async (ctx) => {
  Object.assign(ctx, tempDir());
  ctx.certs = makeCerts(ctx.dir);
  const { certs } = ctx;
  ctx.hub = await startHub(ctx.dir, ['--admin-port', '0', '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--client-ca', certs.ca, '--psk', 'mtls']);
});

it.after(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

/** `cla-worker run` with `extra`; a worker that retried instead of exiting fails the test after 60 s. */
async function run(ctx: { dir: string; hub: RunningHub }, extra: string[]) {
  const result = await runCli(WORKER_BIN, ['run', '--url', ctx.hub.url, '--psk', 'mtls', '--subscriber-id', 'tls', ...extra], { cwd: ctx.dir, timeoutMs: 60_000 });
  const attempts = (result.stdout + result.stderr).match(/Cannot connect to the hub/g)?.length ?? 0;
  return { ...result, attempts };
}

it('hub certificate not trusted: exit 1, names --ca-cert', async (ctx) => {
  const { certs } = ctx;
  const out = await run(ctx, ['--cert', certs.clientCert, '--cert-key', certs.clientKey, '--cert-key-pass', certs.clientKeyPass]);
  assert.is(out.code, 1, out.stderr);
  assert.match(out.stderr, /does not trust .*--ca-cert FILE.*\[TLS_CONFIG\]/);
  assert.is(out.attempts, 0, 'no retry');
});

it('wrong --cert-key-pass: exit 1 before dialing, names --cert-key-pass and the key file', async (ctx) => {
  const { certs } = ctx;
  const out = await run(ctx, ['--ca-cert', certs.ca, '--cert', certs.clientCert, '--cert-key', certs.clientKey, '--cert-key-pass', 'wrong']);
  assert.is(out.code, 1, out.stderr);
  assert.match(out.stderr, `Cannot decrypt the client key ${certs.clientKey}: the --cert-key-pass passphrase is wrong`);
  assert.match(out.stderr, /\[TLS_CONFIG\]/);
  assert.not.match(out.stderr, /bad decrypt|error:1C8/, 'no raw OpenSSL text');
});

it('client certificate missing where the hub requires one: exit 1, names --cert', async (ctx) => {
  const out = await run(ctx, ['--ca-cert', ctx.certs.ca]);
  assert.is(out.code, 1, out.stderr);
  assert.match(out.stderr, /requires a client certificate: pass --cert FILE and --cert-key FILE.*\[TLS_CONFIG\]/);
  assert.is(out.attempts, 0, 'no retry');
});

it('a client certificate the hub does not trust: exit 1, names --cert', async (ctx) => {
  // The hub's own certificate is signed by the same CA, so it passes; one signed by another CA must not.
  const otherDir = path.join(ctx.dir, 'other');
  fs.mkdirSync(otherDir);
  const other = makeCerts(otherDir);
  const out = await run(ctx, ['--ca-cert', ctx.certs.ca, '--cert', other.clientCert, '--cert-key', other.clientKey, '--cert-key-pass', other.clientKeyPass]);
  assert.is(out.code, 1, out.stderr);
  assert.match(out.stderr, /refused the client certificate .*--cert.*\[TLS_CONFIG\]/);
});

it.run();
