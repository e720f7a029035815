/**
 * `cla-hub rulebook run` end to end with real processes: a hub and two workers, `java1` (tags java, with a
 * `javac` on its PATH) and `node1` (tags node). The seed's exact `do: shell: worker: { tags: ['java'] }`
 * form; a rulebook whose variables flow from a shell step on one worker to the next step on the other, that
 * ships a file, fetches it back and evals code with the registered results; the failure report; an invalid
 * rulebook; an unreachable hub; `--dry-run`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir, type LiveProcess, type RunningHub } from './processes.ts';

interface Ctx {
  dir: string;
  cleanup: () => void;
  hub: RunningHub;
  workers: LiveProcess[];
  remote: string;
}

const it = suite<Ctx>('rulebook');

// uvu sets FORCE_COLOR=1 and the children get NO_COLOR=1: Node would warn about the pair into eval logs.
const QUIET_COLORS = { FORCE_COLOR: '0' };

async function startRegistered(ctx: Ctx, id: string, args: string[], env: Record<string, string> = {}): Promise<LiveProcess> {
  const reg = await runCli(WORKER_BIN, ['register', '--url', ctx.hub.url, '--passkey', ctx.hub.passkey, '--id', id], { cwd: ctx.dir });
  assert.is(reg.code, 0, reg.stderr);
  const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  return startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', id, '--token', token, ...args], { ...QUIET_COLORS, ...env });
}

it.before(async (ctx) => {
  Object.assign(ctx, tempDir('cla-rulebook-'));
  ctx.dir = fs.realpathSync(ctx.dir);
  ctx.remote = path.join(ctx.dir, 'remote');
  fs.mkdirSync(ctx.remote);
  // Only the java worker has a `javac` (a stand-in that writes the .class file).
  const bin = path.join(ctx.dir, 'java-bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'javac'), '#!/bin/sh\nfor f in "$@"; do echo "compiled $f"; : > "${f%.java}.class"; done\n', { mode: 0o755 });
  ctx.hub = await startHub(ctx.dir);
  ctx.workers = [
    await startRegistered(ctx, 'java1', ['--tags', 'java', '--root', ctx.remote], { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` }),
    await startRegistered(ctx, 'node1', ['--tags', 'node', '--root', ctx.remote]),
  ];
});

it.after(async (ctx) => {
  for (const worker of ctx.workers ?? []) await worker.stop();
  await ctx.hub?.process.stop('SIGINT');
  await stopAll();
  ctx.cleanup();
});

/** Writes a rulebook into the test folder and runs it with `cla-hub rulebook run`. */
async function runBook(ctx: Ctx, name: string, yaml: string, args: string[] = []) {
  const file = path.join(ctx.dir, name);
  fs.writeFileSync(file, yaml);
  const result = await runCli(HUB_BIN, ['rulebook', 'run', file, '--data', ctx.hub.data, ...args], { cwd: ctx.dir, env: QUIET_COLORS, timeoutMs: 60_000 });
  return { ...result, file };
}

it("the seed's form runs the command on the java-tagged worker", async (ctx) => {
  const r = await runBook(ctx, 'seed.yml', "do:\n  shell:\n    worker: { tags: ['java'] }\n    cmd: javac MyClass.java\n");
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes('▶ do (shell-1) shell: javac MyClass.java  [tags=java]\n'), r.stdout);
  assert.ok(r.stdout.includes('[shell-1@java1] compiled MyClass.java\n'), r.stdout);
  assert.match(r.stdout, /✔ do \(shell-1\) ok on java1 in \d+\.\d\d s\n/);
  assert.match(r.stdout, /✔ \S+seed\.yml: 1 step ran in \d+\.\d\d s\n$/);
  assert.is(r.stderr, '');
  assert.ok(fs.existsSync(path.join(ctx.dir, 'MyClass.class')), 'javac ran in the worker\'s working directory');
});

it('variables flow between steps and workers; ship then fetch returns the same bytes; eval uses the results', async (ctx) => {
  fs.writeFileSync(path.join(ctx.dir, 'artifact.txt'), 'hello artifact\n');
  const r = await runBook(
    ctx,
    'flow.yml',
    `
name: build-and-check
vars:
  greeting: hello
do:
  - name: compile
    shell:
      worker: { tags: ['java'] }
      cmd: javac MyClass.java && echo 1.2.3
    register: build
  - name: announce
    shell:
      worker: { tags: ['node'] }
      cmd: echo "{{ greeting }} version {{ build.stdout_lines.1 }} built on {{ build.worker }}, rc {{ steps.compile.rc }}"
  - name: optional
    shell: { worker: { tags: [node] }, cmd: 'echo optional failed >&2; exit 4' }
    ignore_errors: true
    register: opt
  - name: upload
    ship:
      worker: { tags: ['node'] }
      from: artifact.txt
      to: '{{ remote_dir }}/artifact-{{ build.stdout_lines.1 }}.txt'
      mode: '0640'
    register: shipped
  - name: download
    fetch:
      worker: { id: node1 }
      from: '{{ shipped.path }}'
      to: back/artifact.txt
    register: fetched
  - name: compare
    eval:
      worker: { tags: ['node'] }
      code: |
        const text = fs.readFileSync(vars.shipped.path, 'utf8');
        console.log('checking', path.basename(vars.shipped.path));
        return { same: vars.shipped.sha256 === vars.fetched.sha256, upper: text.trim().toUpperCase(), optional: vars.opt.rc };
    register: compared
  - name: report
    shell:
      worker: { tags: [java] }
      cmd: [echo, 'same={{ compared.same }} {{ compared.upper }} optional={{ compared.optional }}']
    when: compared.same
  - name: skipped
    shell: { cmd: echo never }
    when: not compared.same
`,
    ['--var', `remote_dir=${ctx.remote}`],
  );
  assert.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const out = r.stdout;
  assert.ok(out.includes('[compile@java1] compiled MyClass.java\n'), out);
  assert.ok(out.includes('[announce@node1] hello version 1.2.3 built on java1, rc 0\n'), out);
  assert.ok(r.stderr.includes('[optional@node1] optional failed\n'), r.stderr);
  assert.match(out, /⚠ do\[2\] \(optional\) failed on node1: exit code 4 \(ignored: ignore_errors\)/);
  assert.ok(out.includes(`▶ do[3] (upload) ship: artifact.txt -> ${ctx.remote}/artifact-1.2.3.txt (mode 0640)  [tags=node]`), out);
  assert.ok(out.includes('[compare@node1] checking artifact-1.2.3.txt\n'), out);
  assert.ok(out.includes('[report@java1] same=true HELLO ARTIFACT optional=4\n'), out);
  assert.ok(out.includes('- do[7] (skipped) skipped: `when: not compared.same` is false\n'), out);
  assert.match(out, /✔ \S+flow\.yml: 7 steps ran, 1 skipped, 1 failed but ignored in \d+\.\d\d s\n$/);
  const shipped = path.join(ctx.remote, 'artifact-1.2.3.txt');
  assert.is(fs.readFileSync(shipped, 'utf8'), 'hello artifact\n');
  assert.is(fs.statSync(shipped).mode & 0o777, 0o640);
  assert.is(fs.readFileSync(path.join(ctx.dir, 'back', 'artifact.txt'), 'utf8'), 'hello artifact\n', 'fetched back next to the rulebook');
});

it('a failing step: the report names the step, the worker, the exit code and the last 20 lines; later steps do not run', async (ctx) => {
  const r = await runBook(
    ctx,
    'fail.yml',
    `
do:
  - name: prepare
    shell: { worker: { tags: [node] }, cmd: echo ready }
  - name: build
    shell:
      worker: { tags: ['java'] }
      cmd: 'for i in $(seq 1 25); do echo "line $i"; done; echo "MyClass.java:3: error: cannot find symbol" >&2; exit 3'
  - name: never
    shell: { cmd: echo never }
`,
  );
  assert.is(r.code, 1, r.stderr);
  assert.ok(r.stdout.includes('[prepare@node1] ready\n'));
  assert.ok(r.stdout.includes('[build@java1] line 25\n'), 'output streams live, prefixed');
  assert.not.ok(r.stdout.includes('never'), 'the run stopped');
  const report = r.stderr.slice(r.stderr.indexOf('✖'));
  const lines = report.trimEnd().split('\n');
  assert.equal(lines.slice(0, 5), [
    `✖ ${r.file} failed at do[1] (build) on worker java1: exit code 3`,
    `  step       do[1] (build) shell: for i in $(seq 1 25); do echo "line $i"; done; echo "MyClass.java:3: error: cannot find symbol" >&2; exit 3`,
    '  worker     java1 (asked for tags=java)',
    '  exit code  3',
    '  output     last 20 lines:',
  ]);
  assert.equal(lines.slice(5), [...Array.from({ length: 19 }, (_, i) => `    | line ${i + 7}`), '    ! MyClass.java:3: error: cannot find symbol']);
});

it('an invalid rulebook exits 2 with the file, step and key, and runs nothing', async (ctx) => {
  const r = await runBook(
    ctx,
    'invalid.yml',
    `
do:
  - shell: { worker: { tags: [node] }, cmd: touch ${path.join(ctx.dir, 'must-not-exist')} }
  - ship: { from: a, to: b }
  - name: build
    shell:
      worker: { tags: ['java'] }
`,
  );
  assert.is(r.code, 2);
  assert.is(r.stdout, '');
  assert.is(r.stderr, `✖ ${r.file}: do[2] (build): \`shell.cmd\` is required\n✖ ${r.file} is not a valid rulebook (1 problem); nothing ran [INVALID_ARGUMENT]\n`);
  assert.not.ok(fs.existsSync(path.join(ctx.dir, 'must-not-exist')));
  const undefinedVar = await runBook(ctx, 'undefined.yml', 'do:\n  shell: { cmd: "echo {{ version }}" }\n');
  assert.is(undefinedVar.code, 2);
  assert.match(undefinedVar.stderr, /do \(shell-1\): `shell\.cmd` uses `version`, but `version` is not defined before this step .*pass --var version=VALUE\?/);
  const badVar = await runBook(ctx, 'seed2.yml', 'do:\n  shell: { cmd: ls }\n', ['--var', 'no-equals']);
  assert.is(badVar.code, 2);
  assert.match(badVar.stderr, /Expected `--var` to be key=value/);
});

it('--dry-run prints the plan with --var applied and runs nothing; an unreachable hub exits 125', async (ctx) => {
  const marker = path.join(ctx.dir, 'dry-marker');
  const yaml = `vars: { name: x }\ndo:\n  - { name: touch, shell: { worker: { tags: [java] }, cmd: 'touch ${marker}-{{ name }}' }, register: t }\n  - { eval: { worker: node1, code: 'return vars.t.rc' }, when: t.rc == 0 }\n`;
  const dry = await runBook(ctx, 'dry.yml', yaml, ['--dry-run', '--var', 'name=y']);
  assert.is(dry.code, 0, dry.stderr);
  assert.equal(dry.stdout.trimEnd().split('\n'), [
    `ℹ ${dry.file}: 2 steps (dry run: nothing runs)`,
    '  vars:',
    '    name = y  (--var)',
    `  do[0] (touch) shell: touch ${marker}-y  [tags=java]  (register: t)`,
    '  do[1] (eval-2) eval: return vars.t.rc  [worker node1]  (when: t.rc == 0)',
  ]);
  assert.not.ok(fs.existsSync(`${marker}-y`));
  const down = await runBook(ctx, 'dry.yml', yaml, ['--url', 'ws://127.0.0.1:1']);
  assert.is(down.code, 125);
  assert.match(down.stderr, /Cannot connect to the hub .*\[CONNECTION_FAILED\]/);
});

it.run();
