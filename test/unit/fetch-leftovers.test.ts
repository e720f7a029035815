/**
 * `cla-hub fetch` leftovers (src/hub/fetch-leftovers.ts): a record of a live process is never swept, one of
 * a process that is gone has its temp file removed, and a record can only ever remove a transfer's temp
 * names. The crash itself, with real processes, is crash-leftovers case 10.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FetchLeftovers, processGone } from '../../src/hub/fetch-leftovers.ts';
import { processIdentity } from '../../src/worker/process-identity.ts';
import { tempDirEach, type TempDirContext } from './test-helpers.ts';

const it = suite<TempDirContext>('fetch-leftovers');
tempDirEach(it);

const quiet = { warn: () => undefined };

function records(state: string): string[] {
  const dir = path.join(state, 'fetches');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.json')) : [];
}

it('a fetch of a live process is kept; once it is released nothing is left', (ctx) => {
  if (process.platform !== 'linux') return;
  const state = path.join(ctx.dir, 'state');
  const target = path.join(ctx.dir, 'out.bin');
  const temp = path.join(ctx.dir, '.out.bin.cla-tmp-0123456789ab');
  const mine = new FetchLeftovers(state, quiet);
  const tracking = mine.track(target);
  fs.writeFileSync(temp, 'partial');
  tracking.created(temp);
  assert.is(records(state).length, 1);
  assert.equal(new FetchLeftovers(state, quiet).sweep(), [], 'this process runs: its temp file stays');
  assert.ok(fs.existsSync(temp));
  fs.rmSync(temp);
  tracking.release();
  assert.equal(records(state), []);
});

it('the temp file of a process that is gone is removed and said; other names are never touched', (ctx) => {
  if (process.platform !== 'linux') return;
  const state = path.join(ctx.dir, 'state');
  const gone = { ...processIdentity(process.pid), startTime: '1' };
  assert.ok(processGone(gone));
  assert.not.ok(processGone(processIdentity(process.pid)));
  assert.not.ok(processGone({ ...gone, bootId: null }), 'unknowable: never taken as gone');
  const temp = path.join(ctx.dir, '.a.bin.cla-tmp-00aa11bb22cc');
  const early = path.join(ctx.dir, '.b.bin.cla-tmp-33dd44ee55ff');
  const other = path.join(ctx.dir, 'precious.txt');
  for (const file of [temp, early, other]) fs.writeFileSync(file, 'x');
  const dir = path.join(state, 'fetches');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, '1.json'), JSON.stringify({ owner: gone, target: path.join(ctx.dir, 'a.bin'), temp }));
  // Killed before its temp path was recorded: the target's temp files go.
  fs.writeFileSync(path.join(dir, '2.json'), JSON.stringify({ owner: gone, target: path.join(ctx.dir, 'b.bin'), temp: null }));
  fs.writeFileSync(path.join(dir, '3.json'), JSON.stringify({ owner: gone, target: other, temp: other }));
  const said: string[] = [];
  const removed = new FetchLeftovers(state, { warn: (_f, message) => said.push(message) }).sweep();
  assert.equal(removed.sort(), [temp, early].sort());
  assert.ok(fs.existsSync(other), 'a record naming another file removes nothing');
  assert.not.ok(fs.existsSync(temp));
  assert.not.ok(fs.existsSync(early));
  assert.equal(records(state), [], 'swept records are dropped');
  assert.is(said.length, 2);
  assert.match(said[0]!, /cut short when its cla-hub process \(pid \d+\) was killed/);
});

it.run();
