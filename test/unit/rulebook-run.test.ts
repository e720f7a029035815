// The rulebook runner (src/rulebook/rulebook-run.ts) over a scripted JobRunner: variables between steps,
// `when`, `ignore_errors`, the failure it reports (step, worker, exit code, last lines), hub errors, and
// the report and plan texts (src/rulebook/rulebook-report.ts).
import { Observable } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError, ErrorCode } from '../../src/errors.ts';
import type { JobEvent } from '../../src/hub/job-events.ts';
import type { JobRunner } from '../../src/hub/transfer.ts';
import type { JobSpec, Target } from '../../src/protocol/frames.ts';
import { formatFailure, formatPlan, parseRulebook, runRulebook, type RulebookEvent, type RulebookOutcome } from '../../src/rulebook/index.ts';
import { LineStream } from '../../src/rulebook/rulebook-steps.ts';

const it = suite('rulebook-run');

const text = (s: string) => new TextEncoder().encode(s);
type Script = (target: Target, job: JobSpec) => JobEvent[] | ClaError;

/** A runner that answers each job with the events `script` returns (on a later tick), and records the jobs. */
function scripted(script: Script): JobRunner & { jobs: Array<{ target: Target; job: JobSpec }> } {
  const jobs: Array<{ target: Target; job: JobSpec }> = [];
  return {
    jobs,
    run: (target, job) =>
      new Observable<JobEvent>((subscriber) => {
        jobs.push({ target, job });
        const answer = script(target, job);
        setImmediate(() => {
          if (answer instanceof ClaError) return subscriber.error(answer);
          for (const event of answer) subscriber.next(event);
          subscriber.complete();
        });
      }),
  };
}

const dispatched = (worker: string): JobEvent => ({ type: 'dispatched', worker, job: 'j1' });
const out = (data: string, stream: 'stdout' | 'stderr' = 'stdout'): JobEvent => ({ type: 'output', stream, seq: 0, data: text(data) });
const exit = (code: number | null, extra: Partial<Extract<JobEvent, { type: 'exit' }>> = {}): JobEvent => ({
  type: 'exit', code, signal: null, timedOut: false, cancelled: false, durationMs: 5, ...extra,
});
const book = (yaml: string) => parseRulebook(yaml, { file: 'book.yml', dir: '/tmp' });

async function run(yaml: string, script: Script, overrides: Record<string, unknown> = {}) {
  const runner = scripted(script);
  const events: RulebookEvent[] = [];
  const rulebook = book(yaml);
  const outcome: RulebookOutcome = await runRulebook(rulebook, { runner, overrides, onEvent: (e) => events.push(e) });
  return { runner, events, outcome, rulebook };
}

it('registers a shell result, passes it to the next step on another worker, and evals with `vars`', async () => {
  const { runner, events, outcome } = await run(
    `
vars: { greeting: hi }
do:
  - name: version
    shell: { worker: { tags: [java] }, cmd: 'echo 1.2.3' }
    register: ver
  - name: use
    shell: { worker: { id: node1 }, cmd: 'echo {{ greeting }} {{ ver.stdout }} {{ steps.version.worker }}', env: { V: '{{ ver.stdout }}' } }
  - name: check
    eval: { worker: { tags: [node] }, code: 'return vars.ver.stdout + "!"' }
    register: checked
`,
    (target, job) => {
      if (job.kind === 'eval') return [dispatched('node1'), { type: 'result', value: { value: '1.2.3!', logs: 'a log\n', logsTruncated: false }, durationMs: 1 }];
      return target.tags ? [dispatched('java1'), out('1.2.'), out('3\n'), exit(0)] : [dispatched('node1'), out('done\n'), exit(0)];
    },
  );
  assert.ok(outcome.ok);
  assert.equal(runner.jobs[0], { target: { tags: ['java'] }, job: { kind: 'exec', cmd: 'echo 1.2.3' } });
  assert.equal(runner.jobs[1], { target: { worker: 'node1' }, job: { kind: 'exec', cmd: 'echo hi 1.2.3 java1', env: { V: '1.2.3' } } });
  const evalJob = runner.jobs[2]!.job as Extract<JobSpec, { kind: 'eval' }>;
  assert.ok(evalJob.code.startsWith('const vars = JSON.parse('), 'variables reach eval as data');
  assert.ok(evalJob.code.endsWith('; return vars.ver.stdout + "!"'), 'on the first line: line numbers stay');
  assert.equal(outcome.scope.ver, { rc: 0, stdout: '1.2.3', stderr: '', stdout_lines: ['1.2.3'], stderr_lines: [], worker: 'java1' });
  assert.is(outcome.scope.checked, '1.2.3!');
  const steps = outcome.scope.steps as Record<string, Record<string, unknown>>;
  assert.equal([steps.version!.status, steps.use!.status, steps.check!.value, steps.check!.logs], ['ok', 'ok', '1.2.3!', 'a log\n']);
  const lines = events.filter((e) => e.type === 'line').map((e) => `${e.step.name}@${e.worker} ${e.stream} ${e.text}`);
  assert.equal(lines, ['version@java1 stdout 1.2.3', 'use@node1 stdout done', 'check@node1 log a log']);
  assert.equal([outcome.ran, outcome.skipped, outcome.ignored], [3, 0, 0]);
});

it('when: false skips (nothing registered); ignore_errors goes on; the first real failure stops with the last 20 lines', async () => {
  const { runner, events, outcome, rulebook } = await run(
    `
do:
  - { name: skipped, shell: { cmd: 'never' }, when: deploy, register: s }
  - { name: flaky, shell: { cmd: 'false' }, ignore_errors: true, register: f }
  - { name: build, shell: { worker: { tags: [java] }, cmd: make } }
  - { name: after, shell: { cmd: 'never' } }
`,
    (_target, job) => {
      if (job.kind === 'exec' && job.cmd === 'false') return [dispatched('w1'), exit(1)];
      const many = Array.from({ length: 30 }, (_, i) => `line ${i + 1}\n`).join('');
      return [dispatched('java1'), out(many), out('fatal: broken\n', 'stderr'), exit(3)];
    },
    { deploy: 'no' },
  );
  assert.not.ok(outcome.ok);
  assert.equal(runner.jobs.map((j) => (j.job as { cmd: string }).cmd), ['false', 'make']);
  assert.is(outcome.scope.s, undefined);
  assert.equal((outcome.scope.f as { rc: number }).rc, 1);
  assert.equal((outcome.scope.steps as Record<string, unknown>).skipped, { status: 'skipped' });
  assert.equal([outcome.ran, outcome.skipped, outcome.ignored], [2, 1, 1]);
  const failure = outcome.failure!;
  assert.equal([failure.step.name, failure.worker, failure.exitCode, failure.hubError], ['build', 'java1', 3, false]);
  assert.is(failure.tail.length, 20);
  assert.equal(failure.tail[0], { stream: 'stdout', text: 'line 12' });
  assert.equal(failure.tail[19], { stream: 'stderr', text: 'fatal: broken' });
  assert.ok(events.some((e) => e.type === 'step-skip' && e.reason === '`when: deploy` is false'));
  const report = formatFailure(rulebook, failure);
  assert.equal(report.slice(0, 5), [
    '✖ book.yml failed at do[2] (build) on worker java1: exit code 3',
    '  step       do[2] (build) shell: make',
    '  worker     java1 (asked for tags=java)',
    '  exit code  3',
    '  output     last 20 lines:',
  ]);
  assert.is(report[5], '    | line 12');
  assert.is(report[24], '    ! fatal: broken');
  assert.is(report.length, 25);
});

it('a hub error (no worker) is a failed step without a worker; a lost connection stops even with ignore_errors', async () => {
  const noWorker = await run('do:\n  - { name: a, shell: { worker: { tags: [gcc] }, cmd: cc } }\n', () => new ClaError(ErrorCode.NoWorker, 'No connected worker has the tags gcc'));
  const failure = noWorker.outcome.failure!;
  assert.equal([failure.worker, failure.error, failure.hubError], [undefined, { code: 'NO_WORKER', message: 'No connected worker has the tags gcc' }, false]);
  assert.equal(formatFailure(noWorker.rulebook, failure), [
    '✖ book.yml failed at do[0] (a): NO_WORKER: No connected worker has the tags gcc',
    '  step       do[0] (a) shell: cc',
    '  worker     none took it (asked for tags=gcc)',
    '  error      NO_WORKER: No connected worker has the tags gcc',
    '  output     none',
  ]);
  const lost = await run('do:\n  - { name: a, shell: { cmd: x }, ignore_errors: true }\n  - { name: b, shell: { cmd: y } }\n', () =>
    new ClaError(ErrorCode.ConnectionFailed, 'Lost the connection to the hub'),
  );
  assert.equal([lost.outcome.failure!.step.name, lost.outcome.failure!.hubError, lost.runner.jobs.length], ['a', true, 1]);
});

it('an eval that throws: EVAL_ERROR with its logs as the last lines and its stack', async () => {
  const { outcome, rulebook } = await run('do:\n  eval: { worker: w, code: "console.log(1); throw new Error(\'bad\')" }\n', (_t) => {
    const error = new ClaError(ErrorCode.EvalError, 'Error: bad', { data: { logs: '1\n', stack: 'Error: bad\n    at [eval]:1:22' } });
    return error;
  });
  const failure = outcome.failure!;
  assert.equal(failure.tail, [{ stream: 'log', text: '1' }]);
  const report = formatFailure(rulebook, failure);
  assert.ok(report.includes('  error      EVAL_ERROR: Error: bad'));
  assert.ok(report.includes('        at [eval]:1:22'), report.join('\n'));
});

it('a variable registered by a skipped step fails the step that uses it, before any job', async () => {
  const { runner, outcome } = await run('do:\n  - { name: a, shell: { cmd: x }, when: false, register: r }\n  - { name: b, shell: { cmd: "echo {{ r.stdout }}" } }\n', () => [exit(0)]);
  assert.is(runner.jobs.length, 0);
  assert.equal([outcome.failure!.step.name, outcome.failure!.error!.code], ['b', 'INVALID_ARGUMENT']);
  assert.match(outcome.failure!.error!.message, /`\{\{ r\.stdout \}\}` is not defined/);
});

it('a timeout and a signal are reported as such', async () => {
  const timedOut = await run('do:\n  shell: { cmd: sleep 9, timeout: 1 }\n', () => [dispatched('w'), exit(null, { signal: 'SIGKILL', timedOut: true })]);
  const f = timedOut.outcome.failure!;
  assert.equal([f.exitCode, f.signal, f.timedOut, f.error!.code], [null, 'SIGKILL', true, 'TIMEOUT']);
  assert.equal((timedOut.outcome.scope.steps as Record<string, { rc: number }>)['shell-1']!.rc, 137);
  assert.ok(formatFailure(timedOut.rulebook, f).includes('  exit code  none (killed by SIGKILL)'));
});

it('the dry-run plan fills in what is known and keeps registered results as templates', () => {
  const rulebook = book(`
name: demo
vars: { src: A.java }
do:
  - { name: compile, shell: { worker: { tags: [java] }, cmd: 'javac {{ src }}' }, register: c }
  - { name: show, shell: { worker: node1, cmd: [echo, '{{ c.stdout }}', 'a b'] }, when: c.rc == 0, ignore_errors: true }
  - { ship: { from: '{{ src }}', to: '/tmp/{{ src }}', mode: '0755' } }
`);
  assert.equal(formatPlan(rulebook, { src: 'B.java' }), [
    'ℹ book.yml: demo, 3 steps (dry run: nothing runs)',
    '  vars:',
    '    src = B.java  (--var)',
    '  do[0] (compile) shell: javac B.java  [tags=java]  (register: c)',
    "  do[1] (show) shell: echo '{{ c.stdout }}' 'a b'  [worker node1]  (when: c.rc == 0; ignore_errors)",
    '  do[2] (ship-3) ship: B.java -> /tmp/B.java (mode 0755)  [any worker]',
  ]);
});

it('LineStream: lines split anywhere, UTF-8 split across chunks, CRLF, the last partial line, truncation', () => {
  const lines: string[] = [];
  const stream = new LineStream(8, (line) => lines.push(line));
  const euro = text('€');
  stream.write(text('ab\r\nc'));
  stream.write(euro.subarray(0, 1));
  stream.write(euro.subarray(1));
  stream.write(text('d\nlast'));
  stream.end();
  assert.equal(lines, ['ab', 'c€d', 'last']);
  assert.is(stream.text(), 'ab\r\nc€d', 'the first 8 characters, without the trailing newline');
  assert.ok(stream.isTruncated());
  const whole = new LineStream(100, () => undefined);
  whole.write(text('x\n\n'));
  whole.end();
  assert.equal([whole.text(), whole.isTruncated()], ['x', false]);
});

it.run();
