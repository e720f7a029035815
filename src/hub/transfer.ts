/**
 * Ship and fetch as library calls, for anything that can run a job: `AdminClient` (the CLI) directly,
 * `Hub` through {@link hubJobRunner}. Memory stays flat whatever the file size: a ship reads the file once,
 * hashing it as it sends it chunk by chunk within the credit the worker grants and while the connection
 * drains, and puts the sha256 on the last chunk (issue 13: a first hashing pass cost a whole extra read); a fetch writes into a temp file beside the local target, grants credit as
 * bytes reach the disk, checks the sha256 from the worker's `result` against its own, then renames.
 *
 * The file handling (temp files, credit rules, chunking) is shared with the worker's operations through
 * src/worker/ops/transfer-*.ts, which import nothing from the worker but node, errors and the clock.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Observable, Subscription } from 'rxjs';
import { systemClock, type Clock } from '../clock.ts';
import { ClaError, ErrorCode } from '../errors.ts';
import type { JobSpec, Target } from '../protocol/frames.ts';
import { asTransferError, openSourceFile, sha256OfHandle, type SourceFile } from '../worker/ops/transfer-io.ts';
import { FileSink } from '../worker/ops/transfer-sink.ts';
import type { TempFileTracking } from '../worker/transfer-temp-sweep.ts';
import { FileSource } from '../worker/ops/transfer-source.ts';
import type { Hub } from './hub.ts';
import type { JobEvent, JobInput } from './job-events.ts';

/** Options of one run, as both `AdminClient.run` and {@link hubJobRunner} take them. */
export interface JobRunOptions {
  waitMs?: number;
  signal?: AbortSignal;
  onInput?: (input: JobInput) => void;
}

/** What the transfer calls need: `AdminClient` satisfies it as it is; wrap a `Hub` with {@link hubJobRunner}. */
export interface JobRunner {
  run(target: Target, job: JobSpec, options: JobRunOptions): Observable<JobEvent>;
  /** Bytes queued towards the worker (or the hub); ship pauses reading above `highWaterBytes`. */
  bufferedBytes?(worker: string): number;
}

/** A {@link JobRunner} over a hub in this process; backpressure is the worker connection's. */
export function hubJobRunner(hub: Hub): JobRunner {
  return {
    run: (target, job, options) => hub.run({ target, job, ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }) }, options),
    bufferedBytes: (worker) => hub.session(worker)?.bufferedBytes() ?? 0,
  };
}

/** Where a transfer is: hashing the local file (ship), or moving bytes. */
export interface TransferProgress {
  /** `hash` is no longer reported by `shipFile` (it hashes while sending); kept for callers' label maps. */
  phase: 'hash' | 'send' | 'receive';
  bytes: number;
  /** Total bytes, once known (a fetch learns it from the worker's `file`). */
  total: number | undefined;
}

/** Options of {@link shipFile} and {@link fetchFile}. */
export interface TransferOptions {
  /** Cancels: the worker stops and removes its temp file; the call rejects with CANCELLED. */
  signal?: AbortSignal;
  onProgress?: (progress: TransferProgress) => void;
  /** How long to wait for a busy worker, in ms. @default the runner's (60 s) */
  waitMs?: number;
  /** Pause reading while the connection holds more than this, in bytes (ship). @default 4 MiB */
  highWaterBytes?: number;
  /** Credit outstanding at most, in bytes (fetch). @default 8 MiB */
  windowBytes?: number;
  clock?: Clock;
  /**
   * Records a fetch's local temp file while it exists, so that if this process is killed the next one can
   * remove it (`cla-hub fetch` passes hub/fetch-leftovers.ts). Ship writes no local file.
   */
  leftovers?: { track(target: string): TempFileTracking };
}

/** Options of {@link shipFile}. */
export interface ShipOptions extends TransferOptions {
  /** Mode of the file on the worker. @default 0o644 (the worker's default) */
  mode?: number;
}

/** The outcome of a transfer. */
export interface TransferResult {
  /** The worker that did it. */
  worker: string;
  /** Absolute path on the worker, as it resolved it. */
  remotePath: string;
  /** Absolute local path. */
  localPath: string;
  bytes: number;
  sha256: string;
  /** Whole call, hashing included, in ms. */
  durationMs: number;
}

/** Sends `localPath` to `remotePath` on the worker chosen by `target`. */
export async function shipFile(runner: JobRunner, target: Target, localPath: string, remotePath: string, options: ShipOptions = {}): Promise<TransferResult> {
  const clock = options.clock ?? systemClock;
  const startedAt = clock.now();
  const local = path.resolve(localPath);
  if (options.mode !== undefined && (!Number.isInteger(options.mode) || options.mode < 0 || options.mode > 0o7777)) {
    throw new ClaError(ErrorCode.InvalidArgument, `Expected \`mode\` to be an integer 0-0o7777, got \`${options.mode}\``);
  }
  const file = await openSourceFile(local);
  try {
    throwIfCancelled(options.signal, 'Ship');
    // An empty file sends no chunk to carry the sha256: it goes in the `ship` frame.
    const emptySha256 = file.size === 0 ? await sha256OfHandle(file.fh, 0) : undefined;
    const job: JobSpec = {
      kind: 'ship',
      path: remotePath,
      size: file.size,
      ...(emptySha256 === undefined ? {} : { sha256: emptySha256 }),
      ...(options.mode === undefined ? {} : { mode: options.mode }),
    };
    const highWater = options.highWaterBytes ?? 4 * 1024 * 1024;
    let worker = '';
    let source: FileSource | undefined;
    const value = await runTransfer(runner, target, job, options, (event, input, fail) => {
      if (event.type === 'dispatched') worker = event.worker;
      else if (event.type === 'credit') {
        if (!source) {
          source = newSource(file, input, clock, local, () => (runner.bufferedBytes?.(worker) ?? 0) > highWater, options.onProgress);
          source.done.catch((error: ClaError) => fail(error));
        }
        source.grant(event.bytes);
      }
    }, () => source?.stop(new ClaError(ErrorCode.Cancelled, 'Ship stopped')));
    const sha256 = emptySha256 ?? (source ? (await source.done).sha256 : '');
    const result = checkResult(value, file.size, sha256);
    return { worker, remotePath: result.path, localPath: local, bytes: result.bytes, sha256, durationMs: clock.now() - startedAt };
  } finally {
    await file.fh.close().catch(() => undefined);
  }
}

/**
 * Receives `remotePath` from the worker chosen by `target` into `localPath` (into a folder, with the remote
 * file's name). The local file appears only complete and verified, with the remote mode's permission bits.
 */
export async function fetchFile(runner: JobRunner, target: Target, remotePath: string, localPath: string, options: TransferOptions = {}): Promise<TransferResult> {
  const clock = options.clock ?? systemClock;
  const startedAt = clock.now();
  const local = await localDestination(localPath, remotePath);
  throwIfCancelled(options.signal, 'Fetch');
  let total: number | undefined;
  const tracking = options.leftovers?.track(local);
  let sink: FileSink;
  try {
    sink = await FileSink.open(local, {
      windowBytes: options.windowBytes,
      onProgress: (bytes) => options.onProgress?.({ phase: 'receive', bytes, total }),
    });
  } catch (error) {
    tracking?.release();
    throw error;
  }
  tracking?.created(sink.tempPath);
  // Ctrl-C: the local temp file goes at once; the worker's confirmation still ends the call.
  const onAbort = () => void sink.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let worker = '';
  let mode = 0o644;
  try {
    const value = await runTransfer(runner, target, { kind: 'fetch', path: remotePath }, options, (event, input, fail) => {
      if (event.type === 'dispatched') worker = event.worker;
      else if (event.type === 'file') {
        if (total !== undefined) {
          fail(new ClaError(ErrorCode.FlowControl, 'The worker announced the file twice'));
          return;
        }
        total = event.size;
        mode = event.mode & 0o777;
        options.onProgress?.({ phase: 'receive', bytes: 0, total });
        // Ctrl-C may have aborted the sink before the worker's `file` arrived: the cancel is on its way.
        if (options.signal?.aborted) return;
        try {
          sink.begin(event.size, (bytes) => input()?.credit(bytes));
        } catch (error) {
          fail(asTransferError(error, 'write', local));
          return;
        }
        sink.complete.catch((error: ClaError) => fail(error));
      } else if (event.type === 'chunk') {
        try {
          sink.accept(event.seq, event.data);
        } catch (error) {
          fail(asTransferError(error, 'write', local));
        }
      }
    });
    if (total === undefined) throw new ClaError(ErrorCode.FlowControl, 'The worker ended the fetch without announcing the file');
    const claimed = resultValue(value);
    if (sink.receivedBytes() !== total || claimed.bytes !== total) {
      throw new ClaError(ErrorCode.FlowControl, `The worker ended the fetch after ${sink.receivedBytes()} of ${total} bytes`, { data: { received: sink.receivedBytes(), size: total } });
    }
    const received = await sink.commit(claimed.sha256, mode);
    return { worker, remotePath: claimed.path, localPath: local, bytes: received.bytes, sha256: received.sha256, durationMs: clock.now() - startedAt };
  } catch (error) {
    await sink.abort();
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    // The temp file is renamed or removed by now (a Ctrl-C's abort too: `sink.abort()` above awaits it).
    tracking?.release();
  }
}

type EventHandler = (event: JobEvent, input: () => JobInput | undefined, fail: (error: ClaError) => void) => void;

/**
 * Runs one transfer job and resolves with its `result` value. A local failure (`fail`) unsubscribes, which
 * cancels the job on the worker, and rejects at once with that failure.
 */
function runTransfer(runner: JobRunner, target: Target, job: JobSpec, options: TransferOptions, onEvent: EventHandler, onStop?: () => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let input: JobInput | undefined;
    let subscription: Subscription | undefined;
    let settled = false;
    const finish = (error: ClaError | undefined, value?: unknown) => {
      if (settled) return;
      settled = true;
      onStop?.();
      subscription?.unsubscribe();
      if (error) reject(error);
      else resolve(value);
    };
    subscription = runner
      .run(target, job, { signal: options.signal, onInput: (i) => (input = i), ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }) })
      .subscribe({
        next: (event) => {
          if (settled) return;
          if (event.type === 'result') finish(undefined, event.value);
          else onEvent(event, () => input, (error) => finish(error));
        },
        error: (error: unknown) => finish(error instanceof ClaError ? error : new ClaError(ErrorCode.Internal, String(error), { cause: error })),
        complete: () => finish(new ClaError(ErrorCode.Internal, `The ${job.kind} ended without a result`)),
      });
    if (settled) subscription.unsubscribe();
  });
}

function newSource(
  file: SourceFile,
  input: () => JobInput | undefined,
  clock: Clock,
  local: string,
  congested: () => boolean,
  onProgress: TransferOptions['onProgress'],
): FileSource {
  return new FileSource(file.fh, file.size, {
    send: (seq, data, sha256) => input()?.chunk(seq, data, sha256),
    congested,
    clock,
    path: local,
    // Hashed while sent; the last chunk tells the worker what to check its bytes against.
    hashOnLastChunk: true,
    onProgress: (bytes, total) => onProgress?.({ phase: 'send', bytes, total }),
  });
}

/** The `{path, bytes, sha256}` of a transfer `result`, checked. */
function resultValue(value: unknown): { path: string; bytes: number; sha256: string } {
  const v = value as { path?: unknown; bytes?: unknown; sha256?: unknown } | null;
  if (!v || typeof v.path !== 'string' || typeof v.bytes !== 'number' || typeof v.sha256 !== 'string') {
    throw new ClaError(ErrorCode.BadFrame, 'The worker answered the transfer with a result that is not {path, bytes, sha256}');
  }
  return { path: v.path, bytes: v.bytes, sha256: v.sha256 };
}

function checkResult(value: unknown, size: number, sha256: string): { path: string; bytes: number } {
  const result = resultValue(value);
  if (result.sha256 !== sha256 || result.bytes !== size) {
    throw new ClaError(ErrorCode.ChecksumMismatch, `The worker reports ${result.bytes} bytes with sha256 ${result.sha256}; ${size} bytes with ${sha256} were sent`, {
      data: { expected: sha256, actual: result.sha256 },
    });
  }
  return result;
}

/** `localPath`, or `localPath/<remote name>` when it is an existing folder (like cp and scp). */
async function localDestination(localPath: string, remotePath: string): Promise<string> {
  const local = path.resolve(localPath);
  const stat = await fs.stat(local).catch(() => undefined);
  if (stat?.isDirectory()) {
    const name = path.posix.basename(remotePath.replace(/\\/g, '/'));
    if (!name || name === '.' || name === '..') throw new ClaError(ErrorCode.InvalidArgument, `Cannot name a file in ${local} after the remote path ${remotePath}`);
    return path.join(local, name);
  }
  return local;
}

function throwIfCancelled(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new ClaError(ErrorCode.Cancelled, `${what} cancelled before it started`);
}
