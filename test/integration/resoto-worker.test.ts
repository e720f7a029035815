/**
 * The Resoto worker's surface as ../../../shared/seeds/resoto-worker.txt writes it, typed as a user would
 * with real processes (issue 15): `resotoworker` with every option of the document's table, each by
 * flag and by its RESOTOWORKER_* variable; its default subscriptions as the hub shows them; the
 * document's `search id = i-039e06bb2539e5484 | tag update owner lukas` ending with the tag written by
 * exactly one worker; `cla-hub exec --env` of an environment that does not exist.
 *
 * The "cloud" is a JSON file read and written by the ec2 fixture plugin (fixtures/resoto-plugins).
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, RESOTO_BIN, ROOT, WORKER_BIN, runCli, startCli, startHub, stopAll, tempDir, type LiveProcess, type RunningHub } from './processes.ts';
import { makeCerts, type TestCerts } from './tls-certs.ts';

const PSK = 'changeme';
const PLUGINS = path.join(ROOT, 'test', 'integration', 'fixtures', 'resoto-plugins');
const DOC_LINE = 'search id = i-039e06bb2539e5484 | tag update owner lukas';
const CONNECTED = /"msg":"connected to the hub"/;

interface Ctx {
  dir: string;
  cleanup: () => void;
  certs: TestCerts;
  hub: RunningHub;
  /** The hub's URL as Resoto writes a core URI: http:// (the worker makes it ws://). */
  core: string;
  cloud: string;
}

interface Subscriber {
  workerId: string;
  subscriberId: string;
  actions: Array<{ action: string }>;
  tasks: Array<{ name: string; filter: Record<string, string[]> }>;
}

const it = suite<Ctx>('resoto-worker');

it.before(async (ctx) => {
  Object.assign(ctx, tempDir());
  ctx.certs = makeCerts(ctx.dir);
  ctx.hub = await startHub(ctx.dir, ['--psk', PSK, '--admin-port', '0']);
  ctx.core = ctx.hub.url.replace(/^ws/, 'http');
  ctx.cloud = path.join(ctx.dir, 'cloud.json');
  fs.writeFileSync(
    ctx.cloud,
    JSON.stringify({
      instances: [
        { id: 'i-039e06bb2539e5484', account: '111', region: 'eu-central-1', tags: { name: 'web' } },
        { id: 'i-0b2222222222222222', account: '222', region: 'us-east-1', tags: {} },
      ],
    }),
  );
});

it.after(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

const resoto = (ctx: Ctx, args: string[], env: Record<string, string> = {}) => startCli(RESOTO_BIN, args, { cwd: ctx.dir, env });
/** `cla-hub ARGS --data FILE` (`--data` goes before a `--`). */
const hubCli = (ctx: Ctx, ...args: string[]) => {
  const dashes = args.indexOf('--');
  const withData = dashes < 0 ? [...args, '--data', ctx.hub.data] : [...args.slice(0, dashes), '--data', ctx.hub.data, ...args.slice(dashes)];
  return runCli(HUB_BIN, withData, { cwd: ctx.dir, timeoutMs: 90_000 });
};

async function subscribers(ctx: Ctx, hub: RunningHub = ctx.hub): Promise<Subscriber[]> {
  // The CLI reaches the hub through its admin API: a wss:// hub needs the CA (and, for mutual TLS, a client certificate).
  const tls = hub.url.startsWith('wss:') ? ['--ca-cert', ctx.certs.ca, '--cert', ctx.certs.clientCert, '--cert-key', ctx.certs.clientKey, '--cert-key-pass', ctx.certs.clientKeyPass] : [];
  const out = await runCli(HUB_BIN, ['subscribers', '--json', '--data', hub.data, ...tls], { cwd: ctx.dir, timeoutMs: 60_000 });
  assert.is(out.code, 0, out.stderr);
  return JSON.parse(out.stdout) as Subscriber[];
}

/** Polls `cla-hub subscribers` until `ids` are all listed (a worker subscribes right after its welcome). */
async function waitForSubscribers(ctx: Ctx, ids: string[], hub: RunningHub = ctx.hub): Promise<Subscriber[]> {
  for (let attempt = 0; ; attempt++) {
    const list = await subscribers(ctx, hub);
    if (ids.every((id) => list.some((s) => s.subscriberId === id))) return list;
    if (attempt > 60) assert.unreachable(`subscribers ${ids.join(', ')} not all listed: ${JSON.stringify(list.map((s) => s.subscriberId))}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const actionsOf = (s: Subscriber | undefined) => (s?.actions ?? []).map((a) => a.action);

/** One option of the document's table, tried once by flag and once through its RESOTOWORKER_* variable. */
interface OptionRow {
  option: string;
  /** The option as flags. */
  flag: string[];
  /** The same through the environment. */
  env: Record<string, string>;
  /** What shows that the option took effect. */
  check: (p: LiveProcess, variant: 'flag' | 'env', id: string) => Promise<void>;
  /** Expect no subscription on the hub (a refused worker). */
  refused?: boolean;
}

/**
 * Runs both variants of every row side by side, each worker under its own subscriber id, with `base`
 * giving what the row does not test (`--psk`, `--resotocore-uri`, ... by flag, minus the row's own).
 */
async function tryRows(ctx: Ctx, hub: RunningHub, rows: OptionRow[], base: (row: OptionRow) => string[]): Promise<void> {
  const started = rows.flatMap((row) =>
    (['flag', 'env'] as const).map((variant) => {
      const id = `${row.option.replace(/^-+/, '').replace(/\W+/g, '-')}-${variant}`;
      const idArgs = row.option === '--subscriber-id' ? [] : ['--subscriber-id', id];
      const args = [...base(row), ...idArgs, ...(variant === 'flag' ? row.flag : [])];
      const env = variant === 'env' ? row.env : {};
      return { row, variant, id: row.option === '--subscriber-id' ? `${(variant === 'flag' ? row.flag[1] : Object.values(row.env)[0])}` : id, p: resoto(ctx, args, env) };
    }),
  );
  try {
    await Promise.all(started.map(({ row, variant, p, id }) => row.check(p, variant, id).catch((error: Error) => assert.unreachable(`${row.option} (${variant}): ${error.message}`))));
    const listed = await waitForSubscribers(ctx, started.filter((s) => !s.row.refused).map((s) => s.id), hub);
    for (const s of started.filter((s) => s.row.refused)) assert.not.ok(listed.some((l) => l.subscriberId === s.id), `${s.id} should have been refused`);
  } finally {
    await Promise.all(started.map(({ p }) => p.stop()));
  }
}

const connected = (p: LiveProcess) => p.waitFor(CONNECTED, 90_000).then(() => undefined);

it('the options table on a plain hub, one by one, by flag and by RESOTOWORKER_* variable', async (ctx) => {
  const rows: OptionRow[] = [
    {
      option: '--subscriber-id',
      flag: ['--subscriber-id', 'subscriber-id-flag'],
      env: { RESOTOWORKER_SUBSCRIBER_ID: 'subscriber-id-env' },
      check: async (p, _v, id) => void (await p.waitFor(new RegExp(`starting resotoworker ${id} for`), 90_000)),
    },
    { option: '--psk', flag: ['--psk', PSK], env: { RESOTOWORKER_PSK: PSK }, check: connected },
    {
      option: '--psk (wrong)',
      flag: ['--psk', 'not-the-key'],
      env: { RESOTOWORKER_PSK: 'not-the-key' },
      refused: true,
      check: async (p) => {
        const end = await p.exited;
        assert.is(end.code, 1);
        assert.match(p.stderr, /pre-shared key is not valid.*\[BAD_TOKEN\]/);
      },
    },
    {
      option: '--verbose',
      flag: ['-v'],
      env: { RESOTOWORKER_VERBOSE: 'true' },
      check: async (p) => {
        await p.waitFor(CONNECTED, 90_000);
        assert.match(p.stderr, /"level":20,.*"msg":"resotoworker options"/);
      },
    },
    {
      option: '--quiet',
      flag: ['--quiet'],
      env: { RESOTOWORKER_QUIET: 'true' },
      // Its subscription on the hub (tryRows) shows it connected; no info log line is written.
      check: async (p, _v, id) => {
        await waitForSubscribers(ctx, [id]);
        assert.not.match(p.stderr, /"level":30/);
        assert.match(p.stdout, /starting resotoworker/);
      },
    },
    { option: '--resotocore-uri', flag: ['--resotocore-uri', ctx.core], env: { RESOTOWORKER_RESOTOCORE_URI: ctx.core }, check: connected },
    {
      option: '--override',
      flag: ['--override', `ec2.cloud_file=${ctx.cloud}`, 'ec2.account=111'],
      env: { RESOTOWORKER_OVERRIDE: `ec2.cloud_file=${ctx.cloud} ec2.account=222` },
      check: async (p, variant, id) => {
        await p.waitFor(CONNECTED, 90_000);
        assert.match(p.stdout, /plugin ec2 \(collector, .*ec2\.mjs\): actions collect; tasks tag/);
        const mine = (await waitForSubscribers(ctx, [id])).find((s) => s.subscriberId === id);
        assert.ok(mine?.tasks.some((t) => t.name === 'tag' && t.filter.account?.[0] === (variant === 'flag' ? '111' : '222')), JSON.stringify(mine));
      },
    },
  ];
  await tryRows(ctx, ctx.hub, rows, (row) => [
    ...(row.option.startsWith('--psk') ? [] : ['--psk', PSK]),
    ...(row.option === '--resotocore-uri' ? [] : ['--resotocore-uri', ctx.core]),
    ...(row.option === '--override' ? ['--plugins-dir', PLUGINS] : []),
  ]);
  const quiet = await subscribers(ctx);
  assert.not.ok(quiet.some((s) => s.subscriberId.startsWith('quiet-')), 'stopped workers are no longer listed');
});

it('the TLS options: --ca-cert, --no-verify-certs, and --cert/--cert-key/--cert-key-pass for mutual TLS', async (ctx) => {
  const { certs } = ctx;
  const dir = tempDir();
  const mdir = tempDir();
  try {
    const tls = await startHub(dir.dir, ['--psk', PSK, '--admin-port', '0', '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey]);
    const mtls = await startHub(mdir.dir, ['--psk', PSK, '--admin-port', '0', '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--client-ca', certs.ca]);
    assert.match(tls.url, /^wss:\/\//);
    const https = (hub: RunningHub) => hub.url.replace(/^wss/, 'https');
    await tryRows(
      ctx,
      tls,
      [
        { option: '--ca-cert', flag: ['--ca-cert', certs.ca], env: { RESOTOWORKER_CA_CERT: certs.ca }, check: connected },
        { option: '--no-verify-certs', flag: ['--no-verify-certs'], env: { RESOTOWORKER_NO_VERIFY_CERTS: 'true' }, check: connected },
      ],
      () => ['--psk', PSK, '--resotocore-uri', https(tls)],
    );
    // Without either, the hub's certificate is not trusted: the worker says why and keeps retrying.
    const untrusted = resoto(ctx, ['--psk', PSK, '--resotocore-uri', https(tls), '--subscriber-id', 'untrusted']);
    await untrusted.waitFor(/certificate|self.signed|unable to verify/i, 90_000);
    await untrusted.stop();
    const cert = ['--cert', certs.clientCert];
    const key = ['--cert-key', certs.clientKey];
    const pass = ['--cert-key-pass', certs.clientKeyPass];
    await tryRows(
      ctx,
      mtls,
      [
        { option: '--cert', flag: cert, env: { RESOTOWORKER_CERT: certs.clientCert }, check: connected },
        { option: '--cert-key', flag: key, env: { RESOTOWORKER_CERT_KEY: certs.clientKey }, check: connected },
        { option: '--cert-key-pass', flag: pass, env: { RESOTOWORKER_CERT_KEY_PASS: certs.clientKeyPass }, check: connected },
      ],
      (row) => ['--psk', PSK, '--resotocore-uri', https(mtls), '--ca-cert', certs.ca, ...(row.option === '--cert' ? [] : cert), ...(row.option === '--cert-key' ? [] : key), ...(row.option === '--cert-key-pass' ? [] : pass)],
    );
    await tls.process.stop('SIGINT');
    await mtls.process.stop('SIGINT');
  } finally {
    dir.cleanup();
    mdir.cleanup();
  }
});

it('defaults: resoto.worker, every plugin, collect + plan_cleanup + cleanup and tag tasks, visible on the hub', async (ctx) => {
  // The document's default core URI cannot hold (cla-hub listens on 8733): say which one is used.
  const help = await runCli(RESOTO_BIN, ['--help'], { cwd: ctx.dir });
  assert.is(help.code, 0);
  assert.match(help.stdout, /--resotocore-uri <RESOTOCORE_URI>[\s\S]*ws:\/\/127\.0\.0\.1:8733[\s\S]*https:\/\/localhost:8900/);
  assert.match(help.stdout, /RESOTOWORKER_/);
  const nowhere = resoto(ctx, ['--psk', PSK, '--subscriber-id', 'default-uri']);
  await nowhere.waitFor(/starting resotoworker default-uri for ws:\/\/127\.0\.0\.1:8733/, 90_000);
  await nowhere.stop();

  const plain = resoto(ctx, ['--psk', PSK, '--resotocore-uri', ctx.core]);
  const onlyEc2 = resoto(ctx, ['--psk', PSK, '--resotocore-uri', ctx.core, '--subscriber-id', 'only-ec2', '--plugins-dir', PLUGINS, '--plugin', 'ec2', '--override', `ec2.cloud_file=${ctx.cloud}`, 'ec2.account=111']);
  try {
    await Promise.all([connected(plain), connected(onlyEc2)]);
    const list = await waitForSubscribers(ctx, ['resoto.worker', 'only-ec2']);
    const byDefault = list.find((s) => s.subscriberId === 'resoto.worker');
    assert.equal(actionsOf(byDefault).sort(), ['cleanup', 'collect', 'plan_cleanup']);
    assert.equal(byDefault!.tasks.map((t) => t.name), ['tag']);
    // A plugin without cleanup or plan: collect and cleanup are still subscribed, plan_cleanup is not.
    const ec2 = list.find((s) => s.subscriberId === 'only-ec2');
    assert.equal(actionsOf(ec2).sort(), ['cleanup', 'collect']);
    assert.equal(ec2!.tasks, [{ name: 'tag', filter: { plugin: ['ec2'], account: ['111'] } }]);
    const table = await hubCli(ctx, 'subscribers');
    assert.match(table.stdout, /resoto\.worker\s+resoto\.worker\s+collect\(wait, \d+ s\).*cleanup.*tag\{plugin=fs,worker=resoto\.worker\}/);
    const collectors = await hubCli(ctx, 'subscribers', '--action', 'plan_cleanup', '--json');
    assert.equal((JSON.parse(collectors.stdout) as Subscriber[]).map((s) => s.subscriberId), ['resoto.worker']);
  } finally {
    await Promise.all([plain.stop(), onlyEc2.stop()]);
  }
});

it("the document's search-and-tag line: one tag task, written by exactly one worker that can tag it", async (ctx) => {
  const writes = `${ctx.cloud}.writes`;
  const ec2 = (account: string, collect = true) => `ec2.cloud_file=${ctx.cloud} ec2.account=${account}${collect ? '' : ' ec2.collect=false'}`;
  // wA collects and tags account 111; wC can tag 111 too but collects nothing; wB has account 222.
  const workers = [
    resoto(ctx, ['--psk', PSK, '--resotocore-uri', ctx.core, '--subscriber-id', 'wA', '--plugins-dir', PLUGINS, '--override', ...ec2('111').split(' ')]),
    resoto(ctx, [], { RESOTOWORKER_PSK: PSK, RESOTOWORKER_RESOTOCORE_URI: ctx.core, RESOTOWORKER_SUBSCRIBER_ID: 'wC', RESOTOWORKER_PLUGINS_DIR: PLUGINS, RESOTOWORKER_OVERRIDE: ec2('111', false) }),
    resoto(ctx, ['--psk', PSK, '--resotocore-uri', ctx.core, '--subscriber-id', 'wB', '--plugins-dir', PLUGINS, '--override', ...ec2('222').split(' ')]),
  ];
  try {
    await Promise.all(workers.map(connected));
    await waitForSubscribers(ctx, ['wA', 'wB', 'wC']);
    const collected = await hubCli(ctx, 'workflow', 'run', 'collect', '--wait');
    assert.is(collected.code, 0, collected.stdout + collected.stderr);

    // The line exactly as the document writes it (only the shell's `|` needs quoting).
    const tagged = await hubCli(ctx, ...DOC_LINE.split(' '));
    assert.is(tagged.code, 0, tagged.stdout + tagged.stderr);
    assert.match(tagged.stdout, /i-039e06bb2539e5484 \(aws_ec2_instance, collected by wA\/ec2\) tagged by (wA|wC); tags now name=web,owner=lukas/);
    assert.match(tagged.stdout, /tag owner=lukas: 1 resource\(s\) matched `id = i-039e06bb2539e5484`; 1 done, 0 failed, 0 still waiting/);
    const by = /tagged by (\w+)/.exec(tagged.stdout)![1];
    const lines = fs.readFileSync(writes, 'utf8').trim().split('\n');
    assert.equal(lines, [`${by} i-039e06bb2539e5484 {"name":"web","owner":"lukas"}`], 'exactly one worker wrote the tag');
    const cloud = JSON.parse(fs.readFileSync(ctx.cloud, 'utf8')) as { instances: Array<{ id: string; tags: Record<string, string> }> };
    assert.equal(cloud.instances.map((i) => i.tags), [{ name: 'web', owner: 'lukas' }, {}]);

    // The hub's copy follows; dotted paths address nested fields (desired.clean, reported.*, placement.zone).
    const found = await hubCli(ctx, 'resources', 'search', '--json', 'desired.clean = false and reported.tags.owner = lukas and placement.zone = eu-central-1a');
    assert.equal((JSON.parse(found.stdout) as Array<{ id: string }>).map((r) => r.id), ['i-039e06bb2539e5484']);

    const removed = await hubCli(ctx, 'resources', 'search', "id = i-039e06bb2539e5484 | tag delete owner");
    assert.is(removed.code, 0, removed.stdout + removed.stderr);
    assert.match(removed.stdout, /tag -owner: 1 resource\(s\) matched .*1 done/);
    assert.is(fs.readFileSync(writes, 'utf8').trim().split('\n').length, 2);
    assert.equal((JSON.parse(fs.readFileSync(ctx.cloud, 'utf8')) as { instances: Array<{ tags: object }> }).instances[0]!.tags, { name: 'web' });

    const nothing = await hubCli(ctx, 'search', 'id = i-nope | tag update owner lukas');
    assert.is(nothing.code, 2);
    assert.match(nothing.stderr, /No resource matches `id = i-nope`.*\[INVALID_ARGUMENT\]/);
    const bad = await hubCli(ctx, 'search', 'id = x | tag set owner lukas');
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /expected `tag update KEY VALUE` or `tag delete KEY`/);

    // cla-hub exec --env: an environment that does not exist is named, with the command that creates it.
    const unknown = await hubCli(ctx, 'exec', '--env', 'DEV', '--', 'echo hi');
    assert.is(unknown.code, 125, unknown.stderr);
    assert.match(unknown.stderr, /Environment DEV does not exist on the hub.*`cla-hub env add DEV`.*\[UNKNOWN_ENV\]/);
    assert.is((await hubCli(ctx, 'env', 'add', 'DEV')).code, 0);
    const known = await hubCli(ctx, 'exec', '--env', 'DEV', '--worker', 'wB', '--', 'echo hi');
    assert.is(known.stdout, 'hi\n', known.stderr);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
});

it('cla-worker takes --resotocore-uri as --url; both with different values is a usage error', async (ctx) => {
  const worker = startCli(WORKER_BIN, ['run', '--resotocore-uri', ctx.core, '--psk', PSK, '--subscriber-id', 'cla-synonym'], { cwd: ctx.dir });
  try {
    await connected(worker);
  } finally {
    await worker.stop();
  }
  const both = await runCli(WORKER_BIN, ['run', '--url', ctx.hub.url, '--resotocore-uri', 'http://127.0.0.1:1', '--psk', PSK], { cwd: ctx.dir });
  assert.is(both.code, 2, both.stderr);
  assert.match(both.stderr, /only one of `url` and `resotocoreUri`/);
});

it.run();
