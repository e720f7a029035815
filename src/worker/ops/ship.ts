/**
 * The `ship` operation: receives a file from the hub. The path is checked against the policy before
 * anything is written (PATH_NOT_ALLOWED); then the bytes go into a temp file beside the target
 * (`.<name>.cla-tmp-<random>`, mode 0600) within credit the worker grants window by window, and only a
 * complete file whose sha256 matches is renamed over the target, with its `mode` (default 0644). Any
 * error, a `cancel` or the connection dropping (the agent cancels every job then) removes the temp file.
 */
import { ClaError, ErrorCode, toWireError } from '../../errors.ts';
import { holdTransferHeapGrowth } from '../../gc-policy.ts';
import { frame, type FrameOf } from '../../protocol/frames.ts';
import type { JobContext, RunningJob } from './job.ts';
import { asTransferError, createStopSignal, idleWatch, TRANSFER_IDLE_MS } from './transfer-io.ts';
import { FileSink } from './transfer-sink.ts';

/** Tuning of the transfer operations (tests shrink them). */
export interface TransferOpOptions {
  /** Credit outstanding at most, in bytes. @default TRANSFER_WINDOW_BYTES (8 MiB) */
  windowBytes?: number;
  /** Fail with TIMEOUT after this long without progress, in ms; 0 turns it off. @default TRANSFER_IDLE_MS (120 s) */
  idleTimeoutMs?: number;
}

/** Mode of a shipped file when the request names none. */
export const DEFAULT_SHIP_MODE = 0o644;

/** Starts a ship job. Throws PATH_NOT_ALLOWED (the agent refuses the job) before touching the disk. */
export function startShip(f: FrameOf<'ship'>, ctx: JobContext, options: TransferOpOptions = {}): RunningJob {
  const target = ctx.policy.resolvePath(f.path);
  const startedAt = ctx.clock.now();
  const stop = createStopSignal();
  const idleMs = options.idleTimeoutMs ?? TRANSFER_IDLE_MS;
  const idle = idleWatch(ctx.clock, idleMs, () =>
    stop.trigger(new ClaError(ErrorCode.Timeout, `No file bytes arrived for ${idleMs / 1000} s; ship of ${target} abandoned`, { retryable: true })),
  );
  let sink: FileSink | undefined;
  // Recorded before the temp file exists, so a worker killed mid-transfer removes it at its next start.
  const tracking = ctx.leftovers?.trackTempFile(f.id, target);
  /** The sha256 from the last chunk, when the `ship` frame had none (the sender hashed while sending). */
  let lastChunkSha256: string | undefined;

  const done = (async () => {
    // This transfer's buffers must not drive the worker's GC into a mark-compact loop (see gc-policy.ts).
    const releaseHeap = holdTransferHeapGrowth();
    try {
      // The roots are checked again on the folder actually opened, by descriptor (issue 11, case 5).
      sink = await FileSink.open(target, { windowBytes: options.windowBytes, roots: ctx.policy.roots });
      tracking?.created(sink.tempPath);
      if (stop.error) throw stop.error;
      sink.begin(f.size, (bytes) => ctx.send(frame('credit', { re: f.id, bytes })));
      await Promise.race([sink.complete, stop.promise]);
      if (stop.error) throw stop.error;
      idle.stop();
      const expected = f.sha256 ?? lastChunkSha256;
      if (expected === undefined) throw new ClaError(ErrorCode.FlowControl, 'The ship ended without a sha256: neither the `ship` frame nor its last chunk carried one');
      const received = await sink.commit(expected, f.mode ?? DEFAULT_SHIP_MODE);
      ctx.log.info({ job: f.id, path: sink.realTarget, bytes: received.bytes }, 'ship finished');
      ctx.send(frame('result', { re: f.id, value: { path: sink.realTarget, bytes: received.bytes, sha256: received.sha256 }, durationMs: ctx.clock.now() - startedAt }));
    } catch (error) {
      const failure = asTransferError(error, 'write', target);
      await sink?.abort();
      ctx.log.warn({ job: f.id, path: sink?.realTarget ?? target, code: failure.code }, failure.message);
      ctx.send(frame('error', { re: f.id, error: toWireError(failure) }));
    } finally {
      releaseHeap();
      idle.stop();
      tracking?.release();
    }
  })();

  return {
    input: (input) => {
      if (input.t !== 'chunk') {
        ctx.log.warn({ job: f.id }, 'credit frame for a ship job ignored: the worker grants the credit of a ship');
        return;
      }
      if (stop.error) return;
      if (!sink) {
        stop.trigger(new ClaError(ErrorCode.FlowControl, `Chunk ${input.seq} arrived before any credit was granted`, { data: { seq: input.seq } }));
        return;
      }
      try {
        if (input.sha256 !== undefined) lastChunkSha256 = input.sha256;
        sink.accept(input.seq, input.data);
        idle.touch();
      } catch (error) {
        stop.trigger(asTransferError(error, 'write', target));
      }
    },
    cancel: (reason) => stop.trigger(new ClaError(ErrorCode.Cancelled, `Ship of ${target} cancelled: ${reason}`)),
    done,
  };
}
