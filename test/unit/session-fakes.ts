/** Parts for tests that drive a hub `WorkerSession` directly. */
import type { JobSink } from '../../src/hub/worker-session.ts';

/** A job sink that ignores everything the worker reports. */
export const noSink: JobSink = {
  started: () => undefined,
  output: () => undefined,
  exit: () => undefined,
  credit: () => undefined,
  file: () => undefined,
  chunk: () => undefined,
  result: () => undefined,
  fail: () => undefined,
};
