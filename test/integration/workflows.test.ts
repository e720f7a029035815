/**
 * Actions and workflows with real processes: one `cla-hub start` and several `cla-worker run`, two of
 * them with a test plugin (`gate`, from --plugins-dir) whose `collect` answers only once the test
 * creates its gate file, two with the built-in `fs` plugin on real folder trees (one dry run).
 *
 * Nothing here asserts on time: waits poll the hub's data file (through the CLI) until a state is
 * reached, bounded only so that a broken build fails instead of hanging.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunDetail } from '../../src/hub/actions/workflow-store.ts';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir, type LiveProcess, type RunningHub } from './processes.ts';

interface Ctx {
  dir: string;
  cleanup: () => void;
  hub: RunningHub;
  hubArgs: string[];
  gates: string;
  tree: string;
  dryTree: string;
  workers: Record<string, LiveProcess>;
  tokens: Record<string, string>;
}

const it = suite<Ctx>('workflows');

const GATE_PLUGIN = `
import fs from 'node:fs';
import path from 'node:path';
// collect answers once the file gate-<worker> exists; every call is appended to calls-<worker>.
export const plugin = {
  name: 'gate',
  kind: 'collector',
  configKeys: ['dir'],
  create: ({ config, workerId }) => {
    const dir = config.get('dir');
    return {
      async *collect(ctx) {
        fs.appendFileSync(path.join(dir, 'calls-' + workerId), ctx.id + '\\n');
        while (!fs.existsSync(path.join(dir, 'gate-' + workerId))) {
          if (ctx.signal.aborted) throw ctx.signal.reason;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        yield { id: 'gate:' + workerId, kind: 'gate', attrs: {}, tags: {}, edges: [] };
      },
    };
  },
};
`;

// The built-in collect_and_cleanup has an hourly cron trigger: replaced here so that a run crossing
// the hour does not start one in the middle of a test. `ticker` checks cron and event triggers.
const WORKFLOWS: Record<string, string> = {
  'collect_and_cleanup.yml': `name: collect_and_cleanup
steps:
  - { name: collect, action: collect, timeout: 2m, on_error: continue }
  - { name: plan_cleanup, action: plan_cleanup, timeout: 1m }
  - { name: cleanup, action: cleanup, timeout: 1m }
triggers: [manual]
`,
  'ticker.yml': `name: ticker
steps:
  - { name: tick, action: tick, timeout: 10s }
triggers:
  - cron: '*/2 * * * * *'
  - event: ping
on_conflict: skip
`,
};

/** Files (and their ages in days) of the tree the fs worker cleans up. */
const TREE: Record<string, number> = {
  'keep.txt': 0,
  'old.tmp': 0,
  'cache/a.tmp': 0,
  'cache/deep/b.tmp': 0,
  'cache/deep/c.tmp': 0,
  'cache/deep/deeper/d.tmp': 0,
  'mixed/e.tmp': 0,
  'mixed/keep.txt': 0,
};

function makeTree(root: string): void {
  for (const rel of Object.keys(TREE)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), rel);
  }
}

const hub = (ctx: Ctx, ...args: string[]) => runCli(HUB_BIN, [...args, '--data', ctx.hub.data], { cwd: ctx.dir });

async function hubJson<T>(ctx: Ctx, ...args: string[]): Promise<T> {
  const result = await hub(ctx, ...args, '--json');
  assert.is(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

const show = (ctx: Ctx, run: string) => hubJson<RunDetail>(ctx, 'workflow', 'show', run);

/** Polls until `check` returns a value (bounded so a broken build fails instead of hanging). */
async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Waits until every worker of the suite is connected and subscribed on the current hub: after a hub
 * restart the workers come back on their own backoff, and a step only counts the subscribers connected
 * (or in their grace period) when it starts.
 */
async function allSubscribed(ctx: Ctx): Promise<void> {
  const expected = Object.keys(ctx.workers).sort();
  await until(`${expected.join(', ')} to be subscribed`, async () => {
    const out = await hub(ctx, 'subscribers', '--json');
    if (out.code !== 0) return false;
    const ids = (JSON.parse(out.stdout) as Array<{ workerId: string }>).map((v) => v.workerId).sort();
    return expected.every((id) => ids.includes(id));
  });
}

const answers = (detail: RunDetail, step = 0) => Object.fromEntries(detail.steps[step]?.answers.map((a) => [a.subscriber, a.status]) ?? []);

async function startRun(ctx: Ctx, workflow: string): Promise<string> {
  const started = await hub(ctx, 'workflow', 'run', workflow);
  assert.is(started.code, 0, started.stderr);
  return /run (\S+) of/.exec(started.stdout)![1]!;
}

const openGate = (ctx: Ctx, worker: string) => fs.writeFileSync(path.join(ctx.gates, `gate-${worker}`), '');
const closeGate = (ctx: Ctx, worker: string) => fs.rmSync(path.join(ctx.gates, `gate-${worker}`), { force: true });
const calls = (ctx: Ctx, worker: string) => fs.readFileSync(path.join(ctx.gates, `calls-${worker}`), 'utf8').trim().split('\n');

async function worker(ctx: Ctx, id: string, args: string[]): Promise<LiveProcess> {
  if (!ctx.tokens[id]) {
    const reg = await runCli(WORKER_BIN, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', id], { cwd: ctx.dir });
    assert.is(reg.code, 0, reg.stderr);
    ctx.tokens[id] = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  }
  const process = await startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', id, '--token', ctx.tokens[id], ...args]);
  ctx.workers[id] = process;
  return process;
}

it.before(async (ctx) => {
  Object.assign(ctx, tempDir('cla-workflows-'));
  ctx.workers = {};
  ctx.tokens = {};
  ctx.gates = path.join(ctx.dir, 'gates');
  ctx.tree = path.join(ctx.dir, 'tree');
  ctx.dryTree = path.join(ctx.dir, 'dry-tree');
  const plugins = path.join(ctx.dir, 'plugins');
  const workflows = path.join(ctx.dir, 'workflows');
  for (const d of [ctx.gates, plugins, workflows]) fs.mkdirSync(d);
  fs.writeFileSync(path.join(plugins, 'gate.mjs'), GATE_PLUGIN);
  for (const [name, text] of Object.entries(WORKFLOWS)) fs.writeFileSync(path.join(workflows, name), text);
  makeTree(ctx.tree);
  makeTree(ctx.dryTree);
  ctx.hubArgs = ['--no-admin', '--subscriber-grace', '2', '--workflows', workflows];
  ctx.hub = await startHub(ctx.dir, ctx.hubArgs);
  // The restart below takes the port this hub got from the OS (port 0), so workers reconnect to it.
  ctx.hubArgs.push('--port', new URL(ctx.hub.url).port);
  const gate = ['--plugins-dir', plugins, '--plugin', 'gate', '--override', `gate.dir=${ctx.gates}`];
  await worker(ctx, 'g1', gate);
  await worker(ctx, 'g2', gate);
  await worker(ctx, 'f1', ['--plugin', 'fs', '--override', `fs.roots=${ctx.tree}`, '--override', 'fs.pattern=*.tmp']);
  await worker(ctx, 'f2', ['--override', `fs.roots=${ctx.dryTree}`, '--override', 'fs.pattern=*.tmp', '--override', 'fs.dry_run=true']);
});

it.after(async (ctx) => {
  for (const w of Object.values(ctx.workers)) await w.stop();
  await ctx.hub.process.stop('SIGINT');
  await stopAll();
  ctx.cleanup();
});

it('a broadcast reaches every subscriber and the step waits for all of them', async (ctx) => {
  const run = await startRun(ctx, 'collect');
  let detail = await until('f1 and f2 to answer', async () => {
    const d = await show(ctx, run);
    return answers(d).f1 === 'done' && answers(d).f2 === 'done' && d;
  });
  assert.equal(answers(detail), { f1: 'done', f2: 'done', g1: 'pending', g2: 'pending' });
  assert.is(detail.run.state, 'running');
  openGate(ctx, 'g1');
  detail = await until('g1 to answer', async () => {
    const d = await show(ctx, run);
    return answers(d).g1 === 'done' && d;
  });
  assert.is(detail.run.state, 'running');
  assert.is(answers(detail).g2, 'pending');
  openGate(ctx, 'g2');
  detail = await until('the run to end', async () => {
    const d = await show(ctx, run);
    return d.run.state !== 'running' && d;
  });
  assert.is(detail.run.state, 'succeeded');
  assert.equal(answers(detail), { f1: 'done', f2: 'done', g1: 'done', g2: 'done' });
  const list = await hub(ctx, 'workflow', 'list');
  assert.match(list.stdout, new RegExp(`${run}\\s+collect\\s+succeeded`));
});

it('a subscriber killed mid-step does not block the step past its grace period', async (ctx) => {
  await worker(ctx, 'g3', ['--plugins-dir', path.join(ctx.dir, 'plugins'), '--plugin', 'gate', '--override', `gate.dir=${ctx.gates}`]);
  const run = await startRun(ctx, 'collect');
  await until('g3 to be running the collect', async () => fs.existsSync(path.join(ctx.gates, 'calls-g3')) && answers(await show(ctx, run)).g3 === 'pending');
  ctx.workers.g3!.child.kill('SIGKILL');
  await ctx.workers.g3!.exited;
  delete ctx.workers.g3;
  const detail = await until('the run to end', async () => {
    const d = await show(ctx, run);
    return d.run.state !== 'running' && d;
  });
  assert.is(detail.run.state, 'succeeded');
  assert.equal(answers(detail), { f1: 'done', f2: 'done', g1: 'done', g2: 'done', g3: 'gone' });
});

it('a hub restart mid-workflow resumes it: the pending subscriber gets the same message again and is awaited', async (ctx) => {
  closeGate(ctx, 'g1');
  const run = await startRun(ctx, 'collect');
  const before = await until('everyone but g1 to answer', async () => {
    const d = await show(ctx, run);
    const a = answers(d);
    return a.g1 === 'pending' && a.g2 === 'done' && a.f1 === 'done' && d;
  });
  ctx.hub.process.child.kill('SIGKILL');
  await ctx.hub.process.exited;
  ctx.hub = await startHub(ctx.dir, ctx.hubArgs);
  await ctx.workers.g1!.waitFor(/action resent while running/, 45_000);
  const resumed = await show(ctx, run);
  assert.is(resumed.run.state, 'running');
  assert.is(resumed.steps[0]!.deadline, before.steps[0]!.deadline, 'the deadline comes from the store');
  openGate(ctx, 'g1');
  const detail = await until('the run to end', async () => {
    const d = await show(ctx, run);
    return d.run.state !== 'running' && d;
  });
  assert.is(detail.run.state, 'succeeded');
  assert.equal(answers(detail), { f1: 'done', f2: 'done', g1: 'done', g2: 'done' });
  assert.is(calls(ctx, 'g1').filter((id) => id === `${run}.0`).length, 1, 'the worker ran the resent action once');
  await allSubscribed(ctx);
});

it('a whole collect_and_cleanup run: files are deleted before their folders; the dry run deletes nothing', async (ctx) => {
  await allSubscribed(ctx);
  openGate(ctx, 'g1');
  openGate(ctx, 'g2');
  const dryBefore = fs.readdirSync(ctx.dryTree, { recursive: true }).map(String).sort();
  const result = await hub(ctx, 'workflow', 'run', 'collect_and_cleanup', '--wait', '--timeout', '120');
  assert.is(result.code, 0, result.stdout + result.stderr);
  const run = /run (\S+) of/.exec(result.stdout)![1]!;
  const detail = await show(ctx, run);
  assert.equal(detail.steps.map((s) => [s.name, s.state]), [
    ['collect', 'succeeded'],
    ['plan_cleanup', 'succeeded'],
    ['cleanup', 'succeeded'],
  ]);
  assert.equal(answers(detail, 2), { f1: 'done', f2: 'done' }, 'the gate workers do not subscribe to cleanup');

  // The deletion order, as the worker reported it.
  const deleted = detail.steps[2]!.messages
    .filter((m) => m.subscriber === 'f1' && m.message.startsWith('deleted '))
    .map((m) => path.relative(ctx.tree, m.message.split(' ').slice(2).join(' ')));
  assert.equal([...deleted].sort(), ['cache/a.tmp', 'cache/deep/b.tmp', 'cache/deep/c.tmp', 'cache/deep/deeper/d.tmp', 'mixed/e.tmp', 'old.tmp']);
  // Folders are only flagged by name here (*.tmp matches files), so check order among what went: every
  // entry before its folder, and the remaining tree.
  for (const [i, entry] of deleted.entries()) {
    for (const [j, other] of deleted.entries()) if (entry.startsWith(`${other}/`)) assert.ok(i < j, `${entry} before ${other}`);
  }
  assert.equal(fs.readdirSync(ctx.tree, { recursive: true }).map(String).sort(), ['cache', 'cache/deep', 'cache/deep/deeper', 'keep.txt', 'mixed', 'mixed/keep.txt']);
  assert.equal(fs.readdirSync(ctx.dryTree, { recursive: true }).map(String).sort(), dryBefore, 'the dry run deleted nothing');
  const wouldDelete = detail.steps[2]!.messages.filter((m) => m.subscriber === 'f2' && m.message.startsWith('would delete'));
  assert.is(wouldDelete.length, 6);

  // The flags are stored on the hub: `clean = true` finds them.
  const flagged = await hubJson<Array<{ id: string; worker: string }>>(ctx, 'resources', 'search', 'clean = true and worker = f1');
  assert.is(flagged.length, 6);
});

it('folders flagged too: a real tree is removed dependents first, the root stays', async (ctx) => {
  const tree = path.join(ctx.dir, 'tree2');
  makeTree(tree);
  const f3 = await worker(ctx, 'f3', ['--plugin', 'fs', '--override', `fs.roots=${tree}`, '--override', 'fs.older_than=0']);
  const result = await hub(ctx, 'workflow', 'run', 'collect_and_cleanup', '--wait', '--timeout', '120');
  assert.is(result.code, 0, result.stdout + result.stderr);
  const run = /run (\S+) of/.exec(result.stdout)![1]!;
  const detail = await show(ctx, run);
  const order = detail.steps[2]!.messages
    .filter((m) => m.subscriber === 'f3' && m.message.startsWith('deleted '))
    .map((m) => path.relative(tree, m.message.split(' ').slice(2).join(' ')));
  assert.is(order.length, Object.keys(TREE).length + 4, 'every file and the 4 folders');
  for (const [i, entry] of order.entries()) {
    const parent = path.dirname(entry);
    if (parent !== '.') assert.ok(order.indexOf(parent) > i, `${entry} is deleted before its folder ${parent}`);
  }
  assert.equal(fs.readdirSync(tree), [], 'the root is kept, empty');
  await f3.stop();
  delete ctx.workers.f3;
});

it('resources tag: a tag task to the worker that collected the resource, kept in the sidecar', async (ctx) => {
  const target = path.join(ctx.tree, 'keep.txt');
  const tagged = await hub(ctx, 'resources', 'tag', target, 'owner=lukas');
  assert.is(tagged.code, 0, tagged.stderr);
  assert.match(tagged.stdout, /on worker f1 \(fs\)/);
  await until('the sidecar', async () => fs.existsSync(path.join(ctx.tree, '.cla-tags.json')));
  assert.equal(JSON.parse(fs.readFileSync(path.join(ctx.tree, '.cla-tags.json'), 'utf8')), { 'keep.txt': { owner: 'lukas' } });
  const collected = await hub(ctx, 'workflow', 'run', 'collect', '--wait', '--timeout', '60');
  assert.is(collected.code, 0, collected.stderr);
  const found = await hubJson<Array<{ id: string; tags: Record<string, string> }>>(ctx, 'resources', 'search', 'tags.owner = lukas');
  assert.equal(found.map((r) => [r.id, r.tags]), [[target, { owner: 'lukas' }]]);
  const table = await hub(ctx, 'resources', 'search', `id = ${target}`);
  assert.match(table.stdout, /owner=lukas/);
});

it('workflow abort: the run ends aborted and the abort stops the handler on the worker', async (ctx) => {
  closeGate(ctx, 'g2');
  const run = await startRun(ctx, 'collect');
  await until('g2 to be waiting at its gate', async () => answers(await show(ctx, run)).g2 === 'pending' && calls(ctx, 'g2').includes(`${run}.0`));
  const aborted = await hub(ctx, 'workflow', 'abort', run.slice(0, 8), '--reason', 'enough');
  assert.is(aborted.code, 0, aborted.stderr);
  const detail = await until('the run to end', async () => {
    const d = await show(ctx, run);
    return d.run.state !== 'running' && d;
  });
  assert.is(detail.run.state, 'aborted');
  assert.is(detail.run.reason, 'enough');
  assert.is(answers(detail).g2, 'aborted');
  await ctx.workers.g2!.waitFor(/action aborted by the hub/);
  await ctx.workers.g2!.waitFor(new RegExp(`"re":"${run}\\.0".*"ok":false.*action ended`));
  openGate(ctx, 'g2');
});

it('cron and event triggers start runs on the live hub', async (ctx) => {
  const runs = await until('a cron run of ticker', async () => {
    const list = await hubJson<Array<{ trigger: string; state: string }>>(ctx, 'workflow', 'list', '--workflow', 'ticker');
    return list.some((r) => r.trigger.startsWith('cron:') && r.state === 'succeeded') && list;
  });
  assert.ok(runs.length >= 1);
  const event = await hub(ctx, 'workflow', 'event', 'ping');
  assert.is(event.code, 0, event.stderr);
  assert.match(event.stdout + event.stderr, /ticker/);
  const unknown = await hub(ctx, 'workflow', 'run', 'nope');
  assert.is(unknown.code, 125, 'the hub refused: exit 125');
  assert.match(unknown.stderr, /UNKNOWN_WORKFLOW/);
});

it.run();
