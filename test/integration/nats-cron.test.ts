/**
 * Issue 10: cron fires once per slot across hubs. Three schedulers (one per hub) with the same cron
 * trigger share a real nats-server; a simulated clock walks them through three slots; each slot fires on
 * exactly one of them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { SimulatedClock } from 'xstate';
import type { Clock } from '../../src/clock.ts';
import { CronSlots } from '../../src/engine/cron-slots.ts';
import { connectEngine } from '../../src/engine/nats-connect.ts';
import type { WorkflowDefinition } from '../../src/hub/actions/workflow-definitions.ts';
import { CronScheduler } from '../../src/hub/actions/workflow-scheduler.ts';
import { silentLogger } from '../../src/logger.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer } from './nats-server.ts';

test('three hubs with the same cron trigger fire each slot once between them', async () => {
  const { dir, cleanup } = tempDir('cla-nats-cron-');
  const server = await startNatsServer(path.join(dir, 'nats'));
  const engines = await Promise.all([1, 2, 3].map((n) => connectEngine([server.url], { name: `hub-${n}` })));
  try {
    const start = Date.UTC(2026, 11, 2, 7, 0, 30);
    const workflow = { name: 'nightly', triggers: [{ kind: 'cron', cron: '* * * * *' }] } as unknown as WorkflowDefinition;
    const fired: string[] = [];
    let claims = 0;
    const settled: Array<Promise<unknown>> = [];
    const schedulers = engines.map((engine, i) => {
      const clock = new SimulatedClock();
      clock.set(start);
      const slots = new CronSlots(engine, `hub-${i + 1}`, 'cron_test');
      const scheduler = new CronScheduler(clock as unknown as Clock, silentLogger(), () => fired.push(`hub-${i + 1}`), (slot) => {
        claims += 1;
        const claim = slots.claim(slot);
        settled.push(claim);
        return claim;
      });
      scheduler.start([workflow]);
      return { clock, scheduler };
    });
    for (let minute = 1; minute <= 3; minute++) {
      for (const { clock } of schedulers) clock.increment(60_000);
      await Promise.all(settled.splice(0));
    }
    for (const { scheduler } of schedulers) scheduler.stop();
    assert.is(claims, 9, 'every hub asked for every slot');
    assert.is(fired.length, 3, `fired: ${fired.join(', ')}`);
  } finally {
    for (const engine of engines) await engine.close();
    await server.stop();
    cleanup();
  }
});

test.run();
