/**
 * The Resoto-style worker options with real processes: `--psk` with `--subscriber-id` instead of a
 * registration, and wss:// with `--ca-cert`, `--cert`, `--cert-key`, `--cert-key-pass`, `--no-verify-certs`
 * against a hub started with `--tls-cert/--tls-key/--client-ca`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, WORKER_BIN, runCli, startCli, startHub, stopAll, tempDir } from './processes.ts';
import { makeCerts, type TestCerts } from './tls-certs.ts';

const it = suite<{ dir: string; cleanup: () => void; certs: TestCerts }>('resoto-options');

it.before((ctx) => {
  Object.assign(ctx, tempDir());
  ctx.certs = makeCerts(ctx.dir);
});

it.after(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

it('--psk with --subscriber-id connects without registering, and the hub runs jobs on it', async (ctx) => {
  const hub = await startHub(ctx.dir, ['--psk', 'hub-wide-secret']);
  const worker = startCli(WORKER_BIN, ['run', '--url', hub.url, '--psk', 'hub-wide-secret', '--subscriber-id', 'resoto.worker', '--tags', 'psk'], { cwd: ctx.dir });
  await worker.waitFor(/connected to the hub/);
  const out = await runCli(HUB_BIN, ['exec', '--data', hub.data, '--worker', 'resoto.worker', '--', 'echo via psk'], { cwd: ctx.dir });
  assert.is(out.stdout, 'via psk\n', out.stderr);
  const wrong = await runCli(WORKER_BIN, ['run', '--url', hub.url, '--psk', 'not-the-key', '--subscriber-id', 'intruder'], { cwd: ctx.dir });
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /pre-shared key is not valid.*BAD_TOKEN/);
  await worker.stop();
  await hub.process.stop('SIGINT');
});

it('a hub without --psk refuses PSK workers', async (ctx) => {
  const other = tempDir();
  const hub = await startHub(other.dir);
  const out = await runCli(WORKER_BIN, ['run', '--url', hub.url, '--psk', 'anything', '--subscriber-id', 'x'], { cwd: other.dir });
  assert.is(out.code, 1);
  assert.match(out.stderr, /BAD_TOKEN/);
  await hub.process.stop('SIGINT');
  other.cleanup();
});

it('wss: the hub certificate is verified unless --no-verify-certs; --ca-cert makes it trusted', async (ctx) => {
  const dir = tempDir();
  const hub = await startHub(dir.dir, ['--tls-cert', ctx.certs.serverCert, '--tls-key', ctx.certs.serverKey]);
  assert.match(hub.url, /^wss:\/\//);
  const reg = (extra: string[]) => runCli(WORKER_BIN, ['register', '--url', hub.url, '--passkey', hub.passkey, ...extra], { cwd: dir.dir });
  const untrusted = await reg(['--id', 'a']);
  assert.is(untrusted.code, 1);
  assert.match(untrusted.stderr, /certificate|self.signed|unable to verify/i);
  const trusted = await reg(['--id', 'b', '--ca-cert', ctx.certs.ca]);
  assert.is(trusted.code, 0, trusted.stderr);
  const unverified = await reg(['--id', 'c', '--no-verify-certs']);
  assert.is(unverified.code, 0, unverified.stderr);
  await hub.process.stop('SIGINT');
  dir.cleanup();
});

it('mutual TLS: with --client-ca the worker needs --cert/--cert-key/--cert-key-pass', async (ctx) => {
  const dir = tempDir();
  const { certs } = ctx;
  const hub = await startHub(dir.dir, ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--client-ca', certs.ca, '--psk', 'mtls']);
  const base = ['run', '--url', hub.url, '--psk', 'mtls', '--ca-cert', certs.ca];
  const withCert = startCli(WORKER_BIN, [...base, '--subscriber-id', 'mtls1', '--cert', certs.clientCert, '--cert-key', certs.clientKey, '--cert-key-pass', certs.clientKeyPass], { cwd: dir.dir });
  await withCert.waitFor(/connected to the hub/);
  const without = startCli(WORKER_BIN, [...base, '--subscriber-id', 'mtls2'], { cwd: dir.dir });
  // Without a client certificate the hub refuses it; a configuration error, so the worker says which
  // option to fix and exits 1 instead of retrying (worker-tls-errors.test.ts has the other mistakes).
  const withoutExit = await without.exited;
  assert.is(withoutExit.code, 1, without.stderr);
  assert.match(without.stderr, /requires a client certificate: pass --cert FILE/);
  assert.not.match(without.stderr + without.stdout, /connected to the hub"/);
  await withCert.stop();
  await hub.process.stop('SIGINT');
  dir.cleanup();
});

it.run();
