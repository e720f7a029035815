// Rulebook parsing and validation (src/rulebook/rulebook-parse.ts): the seed's single-step form, the list
// form with every verb, and the messages of invalid files (file, step index and name, key).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkReferences, initialScope, parseRulebook, RulebookError, type Rulebook } from '../../src/rulebook/index.ts';

const it = suite('rulebook-parse');

const parse = (text: string, readFile?: (p: string) => string): Rulebook => parseRulebook(text, { file: 'rulebook.yml', dir: '/books', ...(readFile ? { readFile } : {}) });

/** The messages of the RulebookError `text` raises. */
function problems(text: string, readFile?: (p: string) => string): string[] {
  try {
    parse(text, readFile);
  } catch (error) {
    assert.instance(error, RulebookError);
    assert.is((error as RulebookError).code, 'INVALID_ARGUMENT');
    return (error as RulebookError).problems.map((p) => p.message);
  }
  throw new Error('expected the rulebook to be refused');
}

it("the seed's form: `do:` with one `shell:` mapping is a rulebook of one step", () => {
  const book = parse("do:\n  shell:\n    worker: { tags: ['java'] }\n    cmd: javac MyClass.java\n");
  assert.equal(book.vars, {});
  assert.is(book.steps.length, 1);
  assert.equal(book.steps[0], { index: 0, label: 'do', name: 'shell-1', ignoreErrors: false, worker: { tags: ['java'] }, verb: 'shell', cmd: 'javac MyClass.java' });
});

it('the list form with every verb, defaults and options', () => {
  const book = parse(`
name: release
vars: { version: '1.2', count: 3 }
do:
  - name: compile
    shell: { worker: java1, cmd: [make, all], cwd: /src, env: { N: 1, DEBUG: true }, timeout: 1m30s }
    register: built
    ignore_errors: true
  - ship: { worker: { env: QA, project: p }, from: dist/app.tgz, to: /opt/app.tgz, mode: '0640' }
    when: not built.rc == 1
  - fetch: { worker: { tags: 'a, b' }, from: /var/log/app.log, to: logs/ }
  - eval: { file: check.js, timeout: 5 }
    when: true
`, (p) => (p === '/books/check.js' ? 'return 1' : ''));
  assert.is(book.name, 'release');
  assert.equal(book.vars, { version: '1.2', count: 3 });
  assert.is(book.dir, '/books');
  const [compile, ship, fetch, evalStep] = book.steps;
  assert.equal(compile, {
    index: 0, label: 'do[0]', name: 'compile', register: 'built', ignoreErrors: true, worker: { id: 'java1' },
    verb: 'shell', cmd: ['make', 'all'], cwd: '/src', env: { N: '1', DEBUG: 'true' }, timeoutMs: 90_000,
  });
  assert.equal(ship, {
    index: 1, label: 'do[1]', name: 'ship-2', when: { kind: 'test', path: 'built.rc', negate: true, compare: { op: '==', value: '1' }, source: 'not built.rc == 1' },
    ignoreErrors: false, worker: { env: 'QA', project: 'p' }, verb: 'ship', from: 'dist/app.tgz', to: '/opt/app.tgz', mode: 0o640,
  });
  assert.equal(fetch!.worker, { tags: ['a', 'b'] });
  assert.equal(evalStep, {
    index: 3, label: 'do[3]', name: 'eval-4', when: { kind: 'constant', value: true, source: 'true' }, ignoreErrors: false, worker: {},
    verb: 'eval', code: 'return 1', file: 'check.js', timeoutMs: 5000,
  });
});

it('a missing key names the file, the step index and name, and the key', () => {
  assert.equal(problems('do:\n  - shell: { cmd: ls }\n  - shell: { cmd: ls }\n  - name: build\n    shell: { worker: { tags: [java] } }\n'), [
    'rulebook.yml: do[2] (build): `shell.cmd` is required',
  ]);
});

it('every problem of the file is reported at once', () => {
  const found = problems(`
vars: { 1a: x }
extra: 1
do:
  - name: x
    shell: { worker: { tagz: [a] }, cmd: 3, foo: 1 }
  - ship: { from: a, to: b, mode: 755 }
  - ship: { from: a, to: b, mode: '999' }
  - eval: { code: x, file: y }
  - eval: {}
  - shel: { cmd: ls }
  - shell: { cmd: x }
    eval: { code: y }
  - shell: { cmd: [], timeout: soon, env: { 'A B': 1 } }
  - shell: { cmd: ls }
    when: "deploy or not"
    register: steps
  - 42
`);
  assert.equal(found, [
    'rulebook.yml: `vars.1a` is not a variable name (letters, digits and `_`, not starting with a digit)',
    'rulebook.yml: `extra` is not a known key (expected one of name, description, vars, do)',
    'rulebook.yml: do[0] (x): `shell.worker.tagz` is not a known key (expected one of id, tags, env, project)',
    'rulebook.yml: do[0] (x): `shell.cmd` must be a command: a string (run by the shell) or a non-empty list of strings (run directly as argv), got `3` (number)',
    'rulebook.yml: do[0] (x): `shell.foo` is not a known key (expected one of worker, cmd, cwd, env, timeout)',
    "rulebook.yml: do[1]: `ship.mode` must be octal permissions in quotes, such as '0755' (YAML reads an unquoted 0755 as the decimal 755), got `755` (number)",
    "rulebook.yml: do[2]: `ship.mode` must be octal permissions such as '0644' or '0755', got `999` (string)",
    'rulebook.yml: do[3]: `eval` has both `code` and `file`: give one of them',
    'rulebook.yml: do[4]: `eval.code` is required (or `eval.file`)',
    'rulebook.yml: do[5]: needs one of `shell`, `ship`, `fetch`, `eval` (found `shel`)',
    'rulebook.yml: do[6]: has `shell` and `eval`: a step does one thing; make it 2 steps',
    'rulebook.yml: do[7]: `shell.cmd` must list at least the program to run, got `[]` (array)',
    'rulebook.yml: do[7]: `shell.env.A B` is not an environment variable name (letters, digits and `_`)',
    "rulebook.yml: do[8]: `register` must not be `steps`: that variable holds every step's result by name, got `steps` (string)",
    'rulebook.yml: do[9]: must be a mapping with one of `shell`, `ship`, `fetch`, `eval`, got `42` (number)',
  ]);
});

it('semantic checks: timeouts, conditions, unique names, eval files', () => {
  assert.equal(problems('do:\n  - shell: { cmd: ls, timeout: soon }\n'), [
    'rulebook.yml: do[0]: `shell.timeout` must be a number of seconds or a duration such as `30s`, `10m`, `1h`, got `soon` (string)',
  ]);
  assert.equal(problems('do:\n  - shell: { cmd: ls }\n    when: "deploy or not"\n'), [
    'rulebook.yml: do[0]: `when` must be a condition such as `build.rc == 0`, `deploy` or `not skip_tests`, got `deploy or not` (string)',
  ]);
  assert.equal(problems('do:\n  - { name: a, shell: { cmd: ls } }\n  - { name: a, eval: { code: x } }\n'), [
    'rulebook.yml: do[1] (a): `name` repeats the name of do[0]: step names must be unique',
  ]);
  const missing = problems('do:\n  eval: { file: nope.js }\n', () => {
    throw new Error('ENOENT: no such file');
  });
  assert.equal(missing, ['rulebook.yml: do: `eval.file` cannot be read: ENOENT: no such file']);
});

it('files that are not rulebooks', () => {
  assert.equal(problems('do: []\n'), ['rulebook.yml: `do` must be a non-empty list of steps (or one step as a mapping), got `[]` (array)']);
  assert.equal(problems('name: x\n'), ['rulebook.yml: `do` is required: a list of steps, each a mapping such as `shell: { worker: { tags: [java] }, cmd: make }`']);
  assert.equal(problems('- a\n- b\n'), ['rulebook.yml: must hold a mapping with `do:` (a list of steps), got `["a","b"]` (array)']);
  assert.match(problems('do: [\n')[0]!, /^rulebook\.yml: is not valid YAML: /);
  assert.equal(problems('vars: { steps: 1 }\ndo: { shell: { cmd: ls } }\n'), ["rulebook.yml: `vars.steps` is reserved: it holds every step's result by name"]);
});

it('checkReferences: every {{ name }} is defined before its step (vars, --var, register, steps.NAME)', () => {
  const book = parse(`
vars: { v: 1 }
do:
  - name: a
    shell: { cmd: "echo {{ v }} {{ nope.x }} {{.Id}} \\\\{{ alsonot }}" }
    register: out
  - shell: { cmd: "echo {{ out.stdout }} {{ steps.a.rc }} {{ steps.b.rc }}", worker: { tags: ['{{ tag }}'] } }
    when: "{{ later }} == 1"
  - { name: b, fetch: { from: '{{ out.stdout }}', to: '{{ dest }}' } }
`);
  let error: RulebookError | undefined;
  try {
    checkReferences(book, initialScope(book, { dest: '/tmp/x' }));
  } catch (e) {
    error = e as RulebookError;
  }
  assert.ok(error, 'refused');
  assert.equal(error!.problems.map((p) => p.message), [
    'rulebook.yml: do[0] (a): `shell.cmd` uses `nope.x`, but `nope` is not defined before this step (defined: dest, steps, v; pass --var nope=VALUE?)',
    'rulebook.yml: do[1] (shell-2): `shell.worker.tags[0]` uses `tag`, but `tag` is not defined before this step (defined: dest, out, steps, v; pass --var tag=VALUE?)',
    'rulebook.yml: do[1] (shell-2): `shell.cmd` uses `steps.b.rc`, but no step named `b` runs before this one (earlier steps: a)',
    'rulebook.yml: do[1] (shell-2): `when` uses `later`, but `later` is not defined before this step (defined: dest, out, steps, v; pass --var later=VALUE?)',
  ]);
  const fixed = parse('do:\n  - { name: a, shell: { cmd: "echo {{ v }}" }, register: r }\n  - shell: { cmd: "{{ r.stdout }} {{ steps.a.rc }}" }\n');
  checkReferences(fixed, initialScope(fixed, { v: 'x' }));
});

it.run();
