import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BUILTIN_WORKFLOWS_DIR,
  loadWorkflowDir,
  loadWorkflows,
  parseDuration,
  parseWorkflowDefinition,
  WorkflowDefinitionError,
} from '../../src/hub/actions/workflow-definitions.ts';

function error(text: string, file = 'defs/mine.yml'): WorkflowDefinitionError {
  try {
    parseWorkflowDefinition(text, file);
  } catch (e) {
    assert.instance(e, WorkflowDefinitionError);
    return e as WorkflowDefinitionError;
  }
  throw new Error('expected an error');
}

test('the built-in workflows load: collect, cleanup, collect_and_cleanup', () => {
  const builtins = loadWorkflowDir(BUILTIN_WORKFLOWS_DIR);
  assert.equal(builtins.map((w) => w.name).sort(), ['cleanup', 'collect', 'collect_and_cleanup']);
  const cc = builtins.find((w) => w.name === 'collect_and_cleanup')!;
  assert.equal(cc.steps.map((s) => [s.name, s.action, s.onError]), [
    ['collect', 'collect', 'continue'],
    ['plan_cleanup', 'plan_cleanup', 'stop'],
    ['cleanup', 'cleanup', 'stop'],
  ]);
  assert.equal(cc.triggers, [{ kind: 'manual' }, { kind: 'cron', cron: '0 * * * *' }, { kind: 'event', event: 'collect_and_cleanup' }]);
  assert.is(cc.onConflict, 'skip');
  assert.is(cc.steps[0]!.timeoutMs, 3_600_000);
});

test('YAML and JSON with defaults', () => {
  const yaml = parseWorkflowDefinition('name: nightly\nsteps:\n  - name: collect\n', 'a.yml');
  assert.equal(yaml.steps, [{ name: 'collect', action: 'collect', timeoutMs: 3_600_000, onError: 'stop', data: {} }]);
  assert.equal(yaml.triggers, [{ kind: 'manual' }]);
  assert.is(yaml.onConflict, 'skip');
  assert.is(yaml.source, 'a.yml');
  const json = parseWorkflowDefinition(
    JSON.stringify({ name: 'j', steps: [{ name: 's', action: 'tag_all', timeout: 90, on_error: 'continue', data: { x: 1 } }], triggers: [{ event: 'go' }], on_conflict: 'wait' }),
    'b.json',
  );
  assert.equal(json.steps[0], { name: 's', action: 'tag_all', timeoutMs: 90_000, onError: 'continue', data: { x: 1 } });
  assert.equal(json.triggers, [{ kind: 'event', event: 'go' }]);
  assert.is(json.onConflict, 'wait');
});

test('durations', () => {
  assert.is(parseDuration(90), 90_000);
  assert.is(parseDuration('90'), 90_000);
  assert.is(parseDuration('500ms'), 500);
  assert.is(parseDuration('1h30m'), 5_400_000);
  assert.is(parseDuration('2d'), 172_800_000);
  assert.is(parseDuration('0.5s'), 500);
  for (const bad of ['', 'abc', '10 minutes', '1h 30m', 0, -5, '0s', null, true]) assert.is(parseDuration(bad), null, String(bad));
});

test('every mistake names the file and the key', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['name: x\nsteps:\n  - name: a\n    timeout: soon\n', 'steps[0].timeout', /must be a duration such as `30s`.*got `soon` \(string\)/],
    ['name: x\nsteps:\n  - name: a\n  - name: b\n    on_error: retry\n', 'steps[1].on_error', /must be `continue` or `stop`, got `retry`/],
    ['name: x\nsteps:\n  - name: a\n  - name: a\n', 'steps[1].name', /repeats the step name `a`/],
    ['name: x\nsteps: []\n', 'steps', /non-empty list/],
    ['steps:\n  - name: a\n', 'name', /must be a name/],
    ['name: has space\nsteps:\n  - name: a\n', 'name', /must be a name.*`has space`/],
    ['name: x\nsteps:\n  - name: a\ntriggers:\n  - cron: not a cron\n', 'triggers[0].cron', /is not a cron expression/],
    ['name: x\nsteps:\n  - name: a\ntriggers:\n  - hourly\n', 'triggers[0]', /must be `manual`, `\{cron/],
    ['name: x\nsteps:\n  - name: a\non_conflict: queue\n', 'on_conflict', /one of skip, wait, replace, parallel/],
    ['name: x\nstep:\n  - name: a\n', 'step', /is not a known key/],
    ['name: x\nsteps:\n  - name: a\n    on_errror: stop\n', 'steps[0].on_errror', /is not a known key/],
    ['name: x\nsteps:\n  - name: a\n    data: 5\n', 'steps[0].data', /must be a mapping/],
    ['name: x\nsteps:\n  - just-a-string\n', 'steps[0]', /must be a mapping with name and action/],
  ];
  for (const [text, key, message] of cases) {
    const e = error(text);
    assert.is(e.key, key, text);
    assert.is(e.file, 'defs/mine.yml');
    assert.is(e.code, 'INVALID_ARGUMENT');
    assert.ok(e.message.startsWith(`defs/mine.yml: \`${key}\` `), e.message);
    assert.match(e.message, message);
    assert.equal(e.data, { file: 'defs/mine.yml', key });
  }
});

test('unparsable text and non-mappings', () => {
  assert.match(error('name: [unclosed\n').message, /^defs\/mine\.yml: is not valid YAML\/JSON/);
  assert.match(error('- a\n- b\n').message, /^defs\/mine\.yml: must hold a mapping/);
});

test('a folder: loaded in name order; two files with one name are an error naming both', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-wf-'));
  try {
    fs.writeFileSync(path.join(dir, 'b.yaml'), 'name: second\nsteps:\n  - name: s\n');
    fs.writeFileSync(path.join(dir, 'a.json'), '{"name": "first", "steps": [{"name": "s"}]}');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
    assert.equal(loadWorkflowDir(dir).map((w) => w.name), ['first', 'second']);
    fs.writeFileSync(path.join(dir, 'c.yml'), 'name: collect\nsteps:\n  - name: mine\n');
    const { workflows, replaced } = loadWorkflows(dir);
    assert.equal(replaced, ['collect']);
    assert.is(workflows.get('collect')!.steps[0]!.name, 'mine');
    assert.ok(workflows.has('collect_and_cleanup'));
    fs.writeFileSync(path.join(dir, 'd.yml'), 'name: first\nsteps:\n  - name: s\n');
    assert.throws(() => loadWorkflowDir(dir), (e: Error) => e.message.includes('d.yml: `name` `first` is already defined in') && e.message.includes('a.json'));
    assert.throws(() => loadWorkflowDir(path.join(dir, 'missing')), /cannot be read/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
