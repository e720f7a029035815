/**
 * Issue 10 groundwork: a real nats-server starts on a random port in the test's folder, the hub's engine
 * connection reaches JetStream through it, and `--engine` values are checked before any connection.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Kvm } from '@nats-io/kv';
import { connectEngine, parseEngineReplicas, parseEngineUrls } from '../../src/engine/nats-connect.ts';
import { ClaError, ErrorCode } from '../../src/errors.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import { createHub } from '../../src/hub/create-hub.ts';
import { createLogger } from '../../src/logger.ts';
import { startNatsServer } from './nats-server.ts';
import { tempDir } from './processes.ts';

const it = suite('nats engine');

it('--engine values: one URL or several comma-separated, each nats:// or tls:// with a port', () => {
  assert.equal(parseEngineUrls('nats://127.0.0.1:4222'), ['nats://127.0.0.1:4222']);
  assert.equal(parseEngineUrls('nats://a:1, nats://b:2,'), ['nats://a:1', 'nats://b:2']);
  assert.throws(() => parseEngineUrls(''), /expected nats:\/\/HOST:PORT/);
  assert.throws(() => parseEngineUrls('http://a:1'), /must start with nats:\/\/ or tls:\/\//);
  assert.throws(() => parseEngineUrls('nats://a'), /has no port/);
});

it('connects to a real nats-server and uses a JetStream KV bucket with compare-and-set', async () => {
  const { dir, cleanup } = tempDir('cla-nats-');
  const server = await startNatsServer(dir);
  try {
    const engine = await connectEngine([server.url]);
    try {
      const kv = await new Kvm(engine.nc).create('cla_test', { history: 1 });
      const first = await kv.create('lease', new TextEncoder().encode('a'));
      await kv.update('lease', new TextEncoder().encode('b'), first);
      // A second update from the same old revision is refused: the lease moved.
      const stale = await kv.update('lease', new TextEncoder().encode('c'), first).then(() => 'accepted', (error: Error) => error.message);
      assert.match(stale, /wrong last sequence/);
      const entry = await kv.get('lease');
      assert.is(entry?.string(), 'b');
    } finally {
      await engine.close();
    }
  } finally {
    await server.stop();
    cleanup();
  }
});

it('a hub on an engine that is stopped without having started stops cleanly', async () => {
  const { dir, cleanup } = tempDir('cla-nats-');
  const server = await startNatsServer(dir);
  try {
    const engine = await connectEngine([server.url]);
    try {
      const created = await createHub({ engine, store: 'memory', port: 0, log: createLogger({ name: 'test', quiet: true }) });
      await created.stop();
      await created.stop();
    } finally {
      await engine.close();
    }
  } finally {
    await server.stop();
    cleanup();
  }
});

it('--engine-replicas: 1-5; more replicas than the engine has servers is refused with what to do', async () => {
  assert.is(parseEngineReplicas('3'), 3);
  for (const bad of ['0', '6', '2.5', '', 'three']) assert.throws(() => parseEngineReplicas(bad), /--engine-replicas: expected an integer 1-5/);
  const { dir, cleanup } = tempDir('cla-nats-');
  const server = await startNatsServer(dir);
  try {
    const engine = await connectEngine([server.url], { replicas: 3 });
    try {
      const refused = await createHub({ engine, store: 'memory', port: 0, log: createLogger({ name: 'test', quiet: true }) }).then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(refused instanceof ClaError);
      assert.is(refused.code, ErrorCode.ConnectionFailed);
      assert.match(refused.message, /--engine-replicas 3 needs a cluster with that many JetStream servers up/);
    } finally {
      await engine.close();
    }
  } finally {
    await server.stop();
    cleanup();
  }
});

it('a stream of its own already holding the registry bucket\'s subjects is refused with what to do', async () => {
  const { dir, cleanup } = tempDir('cla-nats-');
  const server = await startNatsServer(dir);
  try {
    const engine = await connectEngine([server.url]);
    try {
      await (await jetstreamManager(engine.nc)).streams.add({ name: 'SOMEONE_ELSE', subjects: ['$KV.cla_registry.>'] });
      const refused = await createHub({ engine, store: 'memory', port: 0, log: createLogger({ name: 'test', quiet: true }) }).then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(refused instanceof ClaError);
      assert.is(refused.code, ErrorCode.ConnectionFailed);
      assert.match(refused.message, /refused the registry bucket cla_registry .*another stream on that server already takes the bucket's name or its subjects/);
    } finally {
      await engine.close();
    }
  } finally {
    await server.stop();
    cleanup();
  }
});

it.run();
