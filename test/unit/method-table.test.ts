// The hub's method table (issue 8): names, params checked by their schema, refusals with a code that
// says what is wrong, plain answers, and the OpenAPI document generated from the same schemas.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { z } from 'zod';
import { Validator } from '@seriousme/openapi-schema-validator';
import { MethodTable, callMethod, watchMethod } from '../../src/hub/methods/method-table.ts';
import { openApiDocument } from '../../src/hub/methods/openapi.ts';

const codeOf = (promise: Promise<unknown>) => promise.then(() => 'answered', (error: { code: string; message: string; data?: Record<string, unknown> }) => error);

function table() {
  const events = new Subject<number>();
  const methods = new MethodTable().add(
    callMethod({ name: 'demo.add', summary: 'Adds.', params: z.object({ a: z.number().int(), b: z.number().int().default(1) }).strict(), call: ({ a, b }) => ({ sum: a + b, note: undefined }) }),
    watchMethod({ name: 'demo.count', summary: 'Counts.', params: z.object({}).strict(), watch: () => events }),
  );
  return { methods, events };
}

test('a call checks its params (defaults filled) and answers a plain value without undefined fields', async () => {
  const { methods } = table();
  assert.equal(await methods.call('demo.add', { a: 2 }), { sum: 3 });
});

test('unknown method, wrong kind and bad params are refused with their code and a sentence saying what to do', async () => {
  const { methods } = table();
  const unknown = (await codeOf(methods.call('demo.nope', {}))) as { code: string; message: string };
  assert.is(unknown.code, 'UNKNOWN_METHOD');
  assert.match(unknown.message, /openapi\.json lists the methods/);
  const kind = (await codeOf(methods.call('demo.count', {}))) as { code: string; message: string };
  assert.is(kind.code, 'UNKNOWN_METHOD');
  assert.match(kind.message, /is a watch method: send it as `watch`/);
  const bad = (await codeOf(methods.call('demo.add', { a: 'x' }))) as { code: string; message: string; data: Record<string, unknown> };
  assert.is(bad.code, 'INVALID_ARGUMENT');
  assert.match(bad.message, /Bad params for `demo.add`: `a`/);
  assert.equal(bad.data, { method: 'demo.add', field: 'a' });
  const extra = (await codeOf(methods.call('demo.add', { a: 1, c: 2 }))) as { code: string };
  assert.is(extra.code, 'INVALID_ARGUMENT', 'unknown params are refused, not ignored');
});

test('a watch streams until its source ends', async () => {
  const { methods, events } = table();
  const all = lastValueFrom(methods.watch('demo.count', {}).pipe(toArray()));
  events.next(1);
  events.next(2);
  events.complete();
  assert.equal(await all, [1, 2]);
});

test('a method name must be group.verb and is defined once', () => {
  const { methods } = table();
  assert.throws(() => methods.add(callMethod({ name: 'demo.add', summary: '', params: z.object({}), call: () => null })), /defined twice/);
  assert.throws(() => methods.add(callMethod({ name: 'flat', summary: '', params: z.object({}), call: () => null })), /group\.verb/);
});

test('the OpenAPI document is valid OpenAPI 3.1, one POST path per call method, watches listed apart', async () => {
  const { methods } = table();
  const document = openApiDocument(methods) as { paths: Record<string, { post: { requestBody: { content: { 'application/json': { schema: { required?: string[] } } } } } }>; 'x-cla-watch-methods': Array<{ name: string }> };
  assert.equal(Object.keys(document.paths), ['/api/call/demo.add']);
  assert.equal(document.paths['/api/call/demo.add']!.post.requestBody.content['application/json'].schema.required, ['a'], '`b` has a default: optional for callers');
  assert.equal(document['x-cla-watch-methods'].map((w) => w.name), ['demo.count']);
  const result = await new Validator().validate(document as never);
  assert.ok(result.valid, JSON.stringify(result.errors));
});

test.run();
