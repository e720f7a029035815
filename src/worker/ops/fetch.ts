/**
 * The `fetch` operation: sends a file to the hub. The path is checked against the policy first
 * (PATH_NOT_ALLOWED); a missing file is FILE_NOT_FOUND and a folder IO_ERROR. The worker announces
 * `file` {size, mode}, then sends `chunk`s of at most 992 KiB only within the credit the receiver grants,
 * reading with a stream paused while credit is out or the socket is congested, and ends with `result`
 * {path, bytes, sha256}.
 */
import type { FileHandle } from 'node:fs/promises';
import { ClaError, ErrorCode, toWireError } from '../../errors.ts';
import { holdTransferHeapGrowth } from '../../gc-policy.ts';
import { frame, type FrameOf } from '../../protocol/frames.ts';
import type { JobContext, RunningJob } from './job.ts';
import type { TransferOpOptions } from './ship.ts';
import { asTransferError, createStopSignal, idleWatch, openSourceFile, TRANSFER_IDLE_MS } from './transfer-io.ts';
import { FileSource } from './transfer-source.ts';

/** Starts a fetch job. Throws PATH_NOT_ALLOWED (the agent refuses the job) before opening anything. */
export function startFetch(f: FrameOf<'fetch'>, ctx: JobContext, options: Pick<TransferOpOptions, 'idleTimeoutMs'> = {}): RunningJob {
  const source = ctx.policy.resolvePath(f.path);
  const startedAt = ctx.clock.now();
  const stop = createStopSignal();
  const idleMs = options.idleTimeoutMs ?? TRANSFER_IDLE_MS;
  const idle = idleWatch(ctx.clock, idleMs, () =>
    stop.trigger(new ClaError(ErrorCode.Timeout, `No credit arrived for ${idleMs / 1000} s; fetch of ${source} abandoned`, { retryable: true })),
  );
  let reader: FileSource | undefined;
  let early = 0;

  const done = (async () => {
    // This transfer's buffers must not drive the worker's GC into a mark-compact loop (see gc-policy.ts).
    const releaseHeap = holdTransferHeapGrowth();
    let fh: FileHandle | undefined;
    try {
      const opened = await openSourceFile(source);
      fh = opened.fh;
      if (stop.error) throw stop.error;
      ctx.send(frame('file', { re: f.id, size: opened.size, mode: opened.mode }));
      reader = new FileSource(fh, opened.size, {
        send: (seq, data) => {
          ctx.send(frame('chunk', { re: f.id, seq, data }));
          idle.touch();
        },
        congested: () => ctx.bufferedBytes() > ctx.highWaterBytes,
        clock: ctx.clock,
        path: source,
      });
      if (early > 0) reader.grant(early);
      const sent = await Promise.race([reader.done, stop.promise]);
      ctx.log.info({ job: f.id, path: source, bytes: sent.bytes }, 'fetch finished');
      ctx.send(frame('result', { re: f.id, value: { path: source, bytes: sent.bytes, sha256: sent.sha256 }, durationMs: ctx.clock.now() - startedAt }));
    } catch (error) {
      const failure = asTransferError(error, 'read', source);
      reader?.stop(failure);
      ctx.log.warn({ job: f.id, path: source, code: failure.code }, failure.message);
      ctx.send(frame('error', { re: f.id, error: toWireError(failure) }));
    } finally {
      releaseHeap();
      idle.stop();
      await fh?.close().catch(() => undefined);
    }
  })();

  return {
    input: (input) => {
      if (input.t !== 'credit') {
        ctx.log.warn({ job: f.id }, 'chunk frame for a fetch job ignored: a fetch only sends chunks');
        return;
      }
      idle.touch();
      if (reader) reader.grant(input.bytes);
      else early += input.bytes;
    },
    cancel: (reason) => stop.trigger(new ClaError(ErrorCode.Cancelled, `Fetch of ${source} cancelled: ${reason}`)),
    done,
  };
}
