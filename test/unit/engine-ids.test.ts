/** Issue 10: worker and hub ids as KV keys and NATS subject tokens, whatever characters they hold. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { idToken, tokenId } from '../../src/engine/presence.ts';
import { workerSubject } from '../../src/engine/routing.ts';

test('plain ids are kept; others become `=` + base64url, and come back unchanged', () => {
  assert.is(idToken('worker-1_A'), 'worker-1_A');
  for (const id of ['a.b', 'a b', 'a*b', 'a>b', 'ħost/漢', '=x', '']) {
    const token = idToken(id);
    assert.match(token, /^=?[A-Za-z0-9_-]*$/, `${id} -> ${token}`);
    assert.is(tokenId(token), id);
  }
  // No wildcard or separator of an id can reach a subject.
  assert.is(workerSubject('a.b.>', 'run').split('.').length, 4);
});

test.run();
