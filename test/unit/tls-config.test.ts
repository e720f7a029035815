/**
 * loadClientTls (src/transport/tls-config.ts): a wrong --cert-key-pass is named as such even when OpenSSL
 * does not say "bad decrypt". About one wrong passphrase in 256 passes AES-CBC's padding check and fails
 * later, in the decoding of the garbage; the test finds such a passphrase, then checks the message.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import tls from 'node:tls';
import fs from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { loadClientTls } from '../../src/transport/tls-config.ts';
import { tempDirEach, type TempDirContext } from './test-helpers.ts';

const it = suite<TempDirContext>('tls-config');
tempDirEach(it);

it('a wrong passphrase whose decryption fails past the padding check is still named as the passphrase', ({ dir }) => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-passout', 'pass:right', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=x'], { cwd: dir, stdio: 'ignore' });
  const cert = fs.readFileSync(path.join(dir, 'c.pem'));
  const key = fs.readFileSync(path.join(dir, 'k.pem'));
  let wrong: string | undefined;
  for (let i = 0; wrong === undefined && i < 20_000; i++) {
    try {
      tls.createSecureContext({ cert, key, passphrase: `wrong-${i}` });
    } catch (error) {
      if (!/bad decrypt/i.test((error as Error).message)) wrong = `wrong-${i}`;
    }
  }
  assert.ok(wrong, 'no passphrase that fails past the padding check in 20,000 (about 1 in 256 expected)');
  const keyFile = path.join(dir, 'k.pem');
  assert.throws(
    () => loadClientTls({ cert: path.join(dir, 'c.pem'), certKey: keyFile, certKeyPass: wrong }),
    (error: unknown) => error instanceof ClaError && error.message === `Cannot decrypt the client key ${keyFile}: the --cert-key-pass passphrase is wrong: fix it`,
  );
  // The right one still loads.
  assert.ok(loadClientTls({ cert: path.join(dir, 'c.pem'), certKey: keyFile, certKeyPass: 'right' }).key);
});

it.run();
