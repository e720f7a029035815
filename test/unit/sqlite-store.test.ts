import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { RUNNER_USER_VERSION, appliedSteps } from '../../src/store/migrations.ts';
import { REGISTRY_STEPS } from '../../src/store/schema-steps.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { storeConformance } from './store-conformance.ts';
import { openInTempDir, tempDirEach, type TempDirContext } from './test-helpers.ts';

storeConformance('sqlite file', () => openInTempDir('cla-store-', openSqliteStore)).run();

storeConformance('sqlite :memory:', () => {
  const store = openSqliteStore(':memory:');
  return { store, cleanup: () => store.close() };
}).run();

const sqlite = suite<TempDirContext>('sqlite specifics', { dir: '', cleanup: () => {} });
tempDirEach(sqlite, 'cla-store-');

sqlite('reopening the file keeps the data', ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  let store = openSqliteStore(file);
  store.createProject({ name: 'A', passkey: 'pk', passkeyHash: 'a'.repeat(64), createdAt: 1 });
  store.createWorker({ id: 'w1', tokenHash: 'b'.repeat(64), createdAt: 2 });
  store.addWorkerProject('w1', 'A', 3);
  store.addEnv('QA');
  store.setSetting('hub.url', 'ws://x');
  store.close();
  store = openSqliteStore(file);
  try {
    assert.is(store.getProject('A')?.passkey, 'pk');
    assert.equal(store.getWorker('w1')?.projects, ['A']);
    assert.equal(store.listEnvs(), ['QA']);
    assert.is(store.getSetting('hub.url'), 'ws://x');
  } finally {
    store.close();
  }
});

sqlite('creates missing parent directories and a new file with mode 0600', ({ dir }) => {
  const file = path.join(dir, 'a', 'b', 'hub.db');
  const store = openSqliteStore(file);
  store.close();
  assert.ok(fs.existsSync(file));
  if (process.platform !== 'win32') assert.is(fs.statSync(file).mode & 0o777, 0o600);
});

sqlite('an existing file keeps its mode', ({ dir }) => {
  if (process.platform === 'win32') return;
  const file = path.join(dir, 'hub.db');
  openSqliteStore(file).close();
  fs.chmodSync(file, 0o640);
  openSqliteStore(file).close();
  assert.is(fs.statSync(file).mode & 0o777, 0o640);
});

sqlite('records the registry steps, sets user_version, WAL, busy_timeout and foreign keys', ({ dir }) => {
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  try {
    assert.equal(appliedSteps(store.db).filter((s) => s.part === 'registry').map((s) => s.name), REGISTRY_STEPS.map((s) => s.name));
    assert.is(store.db.pragma('user_version', { simple: true }), RUNNER_USER_VERSION);
    assert.is(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.is(store.db.pragma('busy_timeout', { simple: true }), 5000);
    assert.is(store.db.pragma('foreign_keys', { simple: true }), 1);
  } finally {
    store.close();
  }
});

sqlite('refuses a database from a newer hub', ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const store = openSqliteStore(file);
  store.db.prepare(`INSERT INTO schema_migrations VALUES ('registry', ?, 'from-the-future', 0)`).run(REGISTRY_STEPS.length + 1);
  store.close();
  try {
    openSqliteStore(file).close();
    assert.unreachable('expected UNSUPPORTED');
  } catch (error) {
    assert.instance(error, ClaError);
    assert.is((error as ClaError).code, 'UNSUPPORTED');
  }
});

sqlite.run();
