// Resoto's search line (src/hub/actions/resource-command.ts), dotted query paths
// (src/hub/actions/resource-query.ts), and the tag task's routing attributes (resource-tagging.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { parseResourceCommand } from '../../src/hub/actions/resource-command.ts';
import { matchesQuery, parseResourceQuery, resourceValue, type QueryableResource } from '../../src/hub/actions/resource-query.ts';
import { tagChange, tagTaskAttrs } from '../../src/hub/actions/resource-tagging.ts';

const instance: QueryableResource = {
  worker: 'w1',
  plugin: 'ec2',
  id: 'i-039e06bb2539e5484',
  kind: 'aws_ec2_instance',
  attrs: { cloud: 'aws', account: '111', region: 'eu-central-1', placement: { zone: 'eu-central-1a', 'host.id': 'h-1' }, 'a.b': 'literal', cores: 4 },
  tags: { owner: 'lukas', 'app.kubernetes.io/name': 'web' },
  clean: true,
  collectedAt: 5,
};
const q = (text: string) => matchesQuery(parseResourceQuery(text), instance);

function refuses(fn: () => unknown, ...parts: string[]): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, ClaError);
    assert.is((error as ClaError).code, 'INVALID_ARGUMENT');
    for (const part of parts) assert.ok((error as Error).message.includes(part), `${part} not in: ${(error as Error).message}`);
    return;
  }
  assert.unreachable('expected INVALID_ARGUMENT');
}

test("the document's line: search, a query, a pipe, tag update", () => {
  const c = parseResourceCommand('search id = i-039e06bb2539e5484 | tag update owner lukas');
  assert.is(c.queryText, 'id = i-039e06bb2539e5484');
  assert.equal(c.query.all.map(({ key, op, value }) => [key, op, value]), [['id', '=', 'i-039e06bb2539e5484']]);
  assert.equal(c.tag, { op: 'update', key: 'owner', value: 'lukas', nowait: false });
  assert.equal(tagChange(c.tag!), { set: { owner: 'lukas' }, remove: [] });
  // Without the leading `search` (as `cla-hub search QUERY` is typed), and with tag delete.
  assert.equal(parseResourceCommand('id = i-1 | tag delete owner').tag, { op: 'delete', key: 'owner', nowait: false });
  assert.equal(tagChange({ op: 'delete', key: 'owner', nowait: false }), { set: {}, remove: ['owner'] });
  assert.equal(parseResourceCommand('kind = x|tag update --nowait note "two words"').tag, { op: 'update', key: 'note', value: 'two words', nowait: true });
  assert.is(parseResourceCommand('kind = file').tag, null);
});

test('a | inside quotes is part of the query; `search` as an attribute name still works', () => {
  const c = parseResourceCommand("name ~ 'a|b' | tag update k v");
  assert.is(c.query.all[0]!.value, 'a|b');
  assert.is(parseResourceCommand('search = yes').query.all[0]!.key, 'search');
  assert.equal(parseResourceCommand('search').query.all, []);
});

test('bad lines say what is expected', () => {
  refuses(() => parseResourceCommand('id = x | tag remove owner'), 'tag update KEY VALUE', 'tag remove owner');
  refuses(() => parseResourceCommand('id = x | count'), 'after `|`');
  refuses(() => parseResourceCommand('id = x | tag update owner'), 'takes KEY VALUE');
  refuses(() => parseResourceCommand('id = x | tag update owner a b'), 'quote a value with spaces');
  refuses(() => parseResourceCommand('id = x | tag delete'), 'takes KEY');
  refuses(() => parseResourceCommand('id = x | tag delete a | tag delete b'), 'one `| tag ...` at most');
  refuses(() => parseResourceCommand('| tag update owner lukas'), 'needs a query');
  refuses(() => parseResourceCommand("id = 'x | tag delete a"), 'quote is not closed');
});

test("dotted paths: Resoto's desired.clean and reported.*, nested attributes, whole tag names", () => {
  assert.ok(q('desired.clean = true'));
  assert.not.ok(q('desired.clean = false'));
  assert.ok(q('reported.kind = aws_ec2_instance'));
  assert.ok(q('reported.id = i-039e06bb2539e5484'));
  assert.ok(q('reported.tags.owner = lukas'));
  assert.ok(q('metadata.worker = w1'));
  assert.ok(q('placement.zone = eu-central-1a'));
  assert.ok(q('attrs.placement.zone ~ ^eu-'));
  assert.ok(q('reported.placement.host.id = h-1'));
  assert.ok(q('a.b = literal'));
  assert.ok(q('tags.app.kubernetes.io/name = web'));
  assert.ok(q('cores >= 4'));
  assert.not.ok(q('placement.nothing = x'));
  assert.ok(q('placement.nothing != x'));
  assert.is(resourceValue(instance, 'desired.clean'), true);
  assert.is(resourceValue(instance, 'placement'), instance.attrs.placement);
});

test('a tag task names the collector and the resource\'s cloud, account, region, zone, host', () => {
  assert.equal(tagTaskAttrs(instance), { plugin: 'ec2', worker: 'w1', cloud: 'aws', account: '111', region: 'eu-central-1' });
  assert.equal(tagTaskAttrs({ plugin: 'fs', worker: 'w2', attrs: { host: 'box', account: 7 } }), { plugin: 'fs', worker: 'w2', host: 'box' });
});

test.run();
