/**
 * The one description of the recorded scenarios, shared by record-fixtures.ts (which runs them for real)
 * and harness.ts (which replays them): the deterministic sources, how the registry is seeded, and what
 * each recorded worker is told. Change anything here and the fixtures must be regenerated.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../../src/clock.ts';
import type { HubDeps, HubOptions } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';
import type { FrameTap } from '../../src/transport/transport.ts';
import type { AgentOptions } from '../../src/worker/agent.ts';
import type { ExecRunnerOptions } from '../../src/worker/exec-runner.ts';

export const FIXTURE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** Every recorded scenario; each has `NAME.hub.rec` and, where a worker took part, `NAME.worker.rec`. */
export const FIXTURES = ['register-and-exec', 'refusals', 'disconnect-mid-job'] as const;
export type FixtureName = (typeof FIXTURES)[number];

export const hubRecording = (name: string): string => path.join(FIXTURE_DIR, `${name}.hub.rec`);
export const workerRecording = (name: string): string => path.join(FIXTURE_DIR, `${name}.worker.rec`);

/** The same for every scenario; a short hello timeout so the `refusals` recording does not wait 10 s. */
export const HUB_OPTIONS: HubOptions = { helloTimeoutMs: 300 };

export const PROJECT = 'replay';
export const ENV = 'prod';
export const WORKER_ID = 'w-replay';
export const TAGS = ['replay'];
/** Output on both streams, one chunk each, and a non-zero exit. */
export const EXEC_COMMAND = "printf 'hello\\n'; printf 'oops\\n' >&2; exit 3";
/** Runs long enough for the recording to drop the connection under it (it is killed then). */
export const LONG_COMMAND = 'sleep 5';
/** Sent by a raw websocket client: not one msgpack value. */
export const GARBAGE = Buffer.from('this is not msgpack');

/**
 * The worker holds output back until the command exits (a batch window far longer than any command
 * here), so stdout is always flushed before stderr and `seq` does not depend on which pipe the OS
 * delivered first. The replay's simulated clock never reaches the window either.
 */
export const EXEC_OPTIONS: ExecRunnerOptions = { batchMs: 60_000 };

/** Backoff jitter: always the middle of the window, so a reconnect waits `backoffBaseMs / 2`. */
export const agentRandom = (): number => 0.5;

/**
 * A counter-based stand-in for `crypto.randomBytes`: call `n` returns the first bytes of
 * sha256(`seed:n:block`), so every token, passkey and generated id is the same in every run.
 */
export function seededBytes(seed = 'cla-worker replay'): (size: number) => Buffer {
  let calls = 0;
  return (size) => {
    calls += 1;
    const blocks: Buffer[] = [];
    for (let block = 0; blocks.length * 32 < size; block += 1) {
      blocks.push(createHash('sha256').update(`${seed}:${calls}:${block}`).digest());
    }
    return Buffer.concat(blocks).subarray(0, size);
  };
}

/** Job ids `job-1`, `job-2`, ... in place of random UUIDs. */
export function jobIds(): () => string {
  let next = 0;
  return () => `job-${(next += 1)}`;
}

/** A registry with what every scenario starts from. */
export interface SeededRegistry {
  store: SqliteStore;
  registry: Registry;
  passkey: string;
  adminToken: string;
}

/** An in-memory registry seeded in a fixed order: project (passkey), admin token, environment. */
export function seedRegistry(clock: Clock): SeededRegistry {
  const store = openSqliteStore(':memory:');
  const registry = new Registry(store, clock, seededBytes());
  const { passkey } = registry.createProject(PROJECT);
  const { token } = registry.ensureAdminToken();
  if (token === null) throw new Error('a fresh store already had an admin token');
  registry.addEnv(ENV);
  return { store, registry, passkey, adminToken: token };
}

/** What the hub gets besides its options, in recording and replay alike. */
export function hubDeps(seeded: SeededRegistry, clock: Clock, tap?: FrameTap): HubDeps {
  // No process metrics: they are never in a frame, and a test process builds many hubs.
  return { registry: seeded.registry, clock, tap, newId: jobIds(), metrics: new HubMetrics({ processMetrics: false }) };
}

/**
 * The token the seeded registry hands to `WORKER_ID` when it registers first: the worker replay needs it
 * without a hub. The recording script checks that the real registration returned the same one.
 */
export function expectedWorkerToken(clock: Clock): string {
  const seeded = seedRegistry(clock);
  try {
    return seeded.registry.register({ passkey: seeded.passkey, id: WORKER_ID }).token;
  } finally {
    seeded.store.close();
  }
}

/**
 * The options of the worker whose side is recorded in `name`: in `refusals` it says hello with a wrong
 * token (BAD_TOKEN), elsewhere with the token from its registration.
 */
export function recordedWorkerOptions(name: FixtureName, url: string, token: string): AgentOptions {
  return {
    id: WORKER_ID,
    token: name === 'refusals' ? 'not-the-token' : token,
    url,
    tags: TAGS,
    envs: [ENV],
    capacity: 1,
    random: agentRandom,
    exec: EXEC_OPTIONS,
  };
}
