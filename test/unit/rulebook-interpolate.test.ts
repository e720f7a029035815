// `{{ path }}` templates and `when:` conditions (src/rulebook/interpolate.ts): a lookup of own properties
// only, never code.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluateCondition, interpolate, isTruthy, lookup, parseCondition, templatePaths } from '../../src/rulebook/index.ts';

const it = suite('rulebook-interpolate');

const scope = {
  version: '1.2.3',
  n: 0,
  flag: true,
  none: null,
  build: { rc: 0, stdout: 'MyClass.class', stdout_lines: ['a', 'b'] },
  list: [1, 2],
  steps: { compile: { status: 'ok', rc: 0 } },
  'with-dash': 'dash',
};

it('replaces paths with values: text as is, numbers and booleans as text, null as empty, the rest as JSON', () => {
  assert.is(interpolate('v{{version}} rc={{ build.rc }} {{ flag }}[{{ none }}]', scope), 'v1.2.3 rc=0 true[]');
  assert.is(interpolate('{{ build.stdout_lines.1 }} {{ steps.compile.status }} {{ with-dash }}', scope), 'b ok dash');
  assert.is(interpolate('{{ list }} {{ steps.compile }}', scope), '[1,2] {"status":"ok","rc":0}');
  assert.is(interpolate('{{ bytes }}', { bytes: new Uint8Array([1, 2]) }), '{"$binary":"AQI="}');
  assert.is(interpolate('no templates', scope), 'no templates');
});

it('leaves what is not a path alone (Go templates), and \\{{ is a literal {{', () => {
  assert.is(interpolate("docker inspect -f '{{.Id}}' {{ json .Config }} {{ }}", scope), "docker inspect -f '{{.Id}}' {{ json .Config }} {{ }}");
  assert.is(interpolate('\\{{ version }} = {{ version }}', scope), '{{ version }} = 1.2.3');
  assert.equal(templatePaths('\\{{ a }} {{ b.c }} {{.d}} {{e}}'), ['b.c', 'e']);
});

it('an undefined path throws naming it and what is defined; `keep` leaves it as written', () => {
  try {
    interpolate('x {{ build.nope }}', { build: {} });
    assert.unreachable('should throw');
  } catch (error) {
    assert.is((error as { code: string }).code, 'INVALID_ARGUMENT');
    assert.is((error as Error).message, '`{{ build.nope }}` is not defined (defined: build)');
  }
  assert.is(interpolate('x {{ later.stdout }} {{ version }}', scope, 'keep'), 'x {{ later.stdout }} 1.2.3');
});

it('lookup reads own properties only: no prototype, no constructor, no code', () => {
  assert.is(lookup(scope, 'build.constructor'), undefined);
  assert.is(lookup(scope, '__proto__'), undefined);
  assert.is(lookup(scope, 'version.length'), undefined);
  assert.is(lookup(scope, 'list.length'), undefined);
  assert.is(lookup(scope, 'list.1'), 2);
  assert.throws(() => interpolate('{{ build.toString }}', scope), /is not defined/);
});

it('conditions: a path, not, == and != against literals compared as text', () => {
  const holds = (text: string, s: Record<string, unknown> = scope) => evaluateCondition(parseCondition(text)!, s);
  assert.ok(holds('flag'));
  assert.not.ok(holds('not flag'));
  assert.ok(holds('build.rc == 0'));
  assert.ok(holds("build.rc == '0'"), '--var values are text');
  assert.ok(holds('{{ version }} == "1.2.3"'));
  assert.ok(holds('version != 2'));
  assert.not.ok(holds('n'));
  assert.not.ok(holds('undefined_thing'), 'undefined is false (a skipped step registered nothing)');
  assert.ok(holds('undefined_thing == null'));
  assert.ok(holds('none == null'));
  assert.not.ok(holds('version == null'));
  assert.ok(holds("not steps.compile.status != 'ok'"));
  assert.is(parseCondition('a or b'), null);
  assert.is(parseCondition('a == b'), null, 'the right side is a literal, not a path');
  assert.is(parseCondition('process.exit()'), null);
  assert.equal(parseCondition(false), { kind: 'constant', value: false, source: 'false' });
});

it('truthiness: empty, zero, false-ish words and empty collections are false', () => {
  for (const value of [undefined, null, false, 0, NaN, '', ' ', 'false', 'No', 'OFF', '0', [], {}, new Uint8Array()]) assert.not.ok(isTruthy(value), String(value));
  for (const value of [true, 1, -1, 'yes', 'x', '00', [0], { a: 0 }, new Uint8Array([0])]) assert.ok(isTruthy(value), String(value));
});

it.run();
