/**
 * `/metrics` passes `promtool check metrics` (Debian package `prometheus`; .ci/run installs it), after a
 * job ran so counters and the histogram have samples. prom-client's default `nodejs_active_*_total`
 * gauges fail it and are left out (src/hub/metrics.ts).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AdminClient, createHub, createWorker, registerWorker } from '../../src/index.ts';
import { tempDir } from './processes.ts';

const promtool = suite('metrics lint');

promtool('GET /metrics passes promtool check metrics', async () => {
  const which = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  assert.ok(which.status === 0, 'promtool not found: install the Debian package `prometheus` (apt-get install prometheus)');
  const { dir, cleanup } = tempDir();
  const hub = await createHub({ data: path.join(dir, 'hub.sqlite'), port: 0, admin: { port: 0 } });
  try {
    const { url, adminUrl } = await hub.start();
    const { id, token } = await registerWorker({ url, passkey: hub.defaultProject.passkey! });
    const worker = await createWorker({ id, token, url });
    const connected = new Promise<void>((resolve) => {
      const sub = hub.hub.changes$.subscribe((change) => {
        if (change.type === 'connected' && change.worker === id) resolve(sub.unsubscribe());
      });
    });
    const exited = worker.run();
    await connected;
    const admin = await AdminClient.connect(url, hub.adminToken);
    await new Promise<void>((resolve, reject) => admin.run({ worker: id }, { kind: 'exec', cmd: 'true' }).subscribe({ error: reject, complete: resolve }));
    admin.close();
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    assert.match(text, /^cla_hub_jobs_total\{kind="exec",outcome="ok"\} 1$/m);
    assert.not.match(text, /nodejs_active_handles_total/);
    const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.is(checked.status, 0, `promtool check metrics:\n${checked.stdout}${checked.stderr}`);
    worker.stop();
    await exited;
  } finally {
    await hub.stop();
    cleanup();
  }
});

promtool.run();
