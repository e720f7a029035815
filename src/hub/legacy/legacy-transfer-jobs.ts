/**
 * Ship and fetch on a legacy worker, through the spool (spool.ts):
 * - ship: the hub takes the file from the admin client within credit, as a new-style worker would, into a
 *   spool file; checks its sha256 (CHECKSUM_MISMATCH otherwise, and the worker is never told); then sends
 *   `worker.put_file {filekey, filepath}`; the worker pulls the bytes with `POST /pubsub/pop?key=` and
 *   reports `worker.put_file.done` or `.fail`.
 * - fetch: the hub sends `worker.get_file {filekey, filepath}`; the worker pushes the bytes with
 *   `POST /pubsub/push?key=&filename=` (chunked, size unknown up front) into a spool file, hashed as it
 *   lands; after `worker.get_file.done` the hub announces `file`, relays the spool file as `chunk`s within
 *   the client's credit and ends with `result {path, bytes, sha256}`, the sha256 of what it relayed checked
 *   against the one of what it received.
 * A legacy worker cannot set a file's mode: a ship's `mode` is not applied (the worker's umask decides),
 * and a fetch reports mode 0644.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ClaError, ErrorCode } from '../../errors.ts';
import { frame, type FrameOf } from '../../protocol/frames.ts';
import { FileSink } from '../../worker/ops/transfer-sink.ts';
import { FileSource } from '../../worker/ops/transfer-source.ts';
import { LegacyJob, legacyFailure, type LegacyJobHost, type LegacyMessage } from './legacy-jobs.ts';

/** `worker.put_file` fed from the spool. */
export class ShipJob extends LegacyJob {
  private readonly key: string;
  private sink: FileSink | undefined;
  private reserved = 0;
  /** The sha256 the last chunk carried (a ship without one in its `ship` frame). */
  private lastChunkSha256: string | undefined;
  /** The sha256 the spooled bytes were checked against. */
  private expectedSha256: string | undefined;

  constructor(
    host: LegacyJobHost,
    private readonly f: FrameOf<'ship'>,
  ) {
    super(host, f.id);
    this.key = host.spool.newKey();
  }

  start(): void {
    try {
      this.host.spool.reserve(this.f.size);
      this.reserved = this.f.size;
    } catch (error) {
      this.fail(error);
      return;
    }
    void this.receive().catch((error: unknown) => this.fail(error));
  }

  private async receive(): Promise<void> {
    const sink = await FileSink.open(this.host.spool.pathFor(this.key), { createParents: false });
    if (this.ended) {
      await sink.abort();
      return;
    }
    this.sink = sink;
    sink.begin(this.f.size, (bytes) => {
      if (!this.ended) this.host.emit(frame('credit', { re: this.jobId, bytes }));
    });
    let expected: string | undefined;
    try {
      // A ship without a sha256 up front carries it on its last chunk (issue 13): known once all arrived.
      await sink.complete;
      expected = this.f.sha256 ?? this.lastChunkSha256;
      if (expected === undefined) throw new ClaError(ErrorCode.FlowControl, 'The ship ended without a sha256: neither the `ship` frame nor its last chunk carried one');
      this.expectedSha256 = expected;
      await sink.commit(expected, 0o600);
    } catch (error) {
      // The temp file goes before the job's error is told, so a caller never sees it left behind.
      await sink.abort();
      await this.host.spool.remove(this.key);
      if (error instanceof ClaError && error.code === ErrorCode.ChecksumMismatch) {
        throw new ClaError(ErrorCode.ChecksumMismatch, `Checksum mismatch for ${this.f.path}: the bytes the hub received do not hash to ${expected}; nothing was sent to the worker`, { data: { path: this.f.path, expected } });
      }
      throw error;
    }
    if (this.ended) return;
    this.host.registerKey(this.key, this);
    this.send('worker.put_file', { filekey: this.key, filepath: this.f.path });
  }

  override input(f: FrameOf<'chunk'> | FrameOf<'credit'>): void {
    if (f.t !== 'chunk' || this.ended) return;
    try {
      if (!this.sink) throw new ClaError(ErrorCode.FlowControl, `Chunk ${f.seq} arrived before any credit was granted`);
      if (f.sha256 !== undefined) this.lastChunkSha256 = f.sha256;
      this.sink.accept(f.seq, f.data);
    } catch (error) {
      this.fail(error);
    }
  }

  override pop(res: http.ServerResponse): void {
    const file = fs.createReadStream(this.host.spool.pathFor(this.key));
    file.once('open', () => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(this.f.size) }));
    file.once('error', (error) => {
      if (!res.headersSent) res.writeHead(404, { 'content-type': 'text/plain' }).end(`no file for this key: ${error.message}\n`);
      else res.destroy(error);
    });
    file.pipe(res);
  }

  message(verb: string, body: LegacyMessage): void {
    if (verb === 'worker.put_file.done') this.result({ path: this.f.path, bytes: this.f.size, sha256: this.expectedSha256 ?? '' });
    else if (verb === 'worker.put_file.fail') this.fail(new ClaError(ErrorCode.IoError, `The legacy worker could not write ${this.f.path}: ${String(body.error ?? 'no reason given')}`, { data: { path: this.f.path } }));
    else if (verb === 'worker.result') this.fail(legacyFailure(body, ErrorCode.IoError));
  }

  cancel(): void {
    this.fail(new ClaError(ErrorCode.Cancelled, `Ship of ${this.f.path} cancelled`));
  }

  override dispose(): void {
    void this.sink?.abort();
    void this.host.spool.remove(this.key);
    this.host.spool.release(this.reserved);
    this.reserved = 0;
  }
}

/** What a push delivered. */
interface Pushed {
  bytes: number;
  sha256: string;
}

/** `worker.get_file` relayed from the spool. */
export class FetchJob extends LegacyJob {
  private readonly key: string;
  private pushed: Promise<Pushed> | undefined;
  private pushing = false;
  private reserved = 0;
  private early = 0;
  private source: FileSource | undefined;
  private fh: fs.promises.FileHandle | undefined;

  constructor(
    host: LegacyJobHost,
    private readonly f: FrameOf<'fetch'>,
  ) {
    super(host, f.id);
    this.key = host.spool.newKey();
  }

  start(): void {
    this.host.registerKey(this.key, this);
    this.send('worker.get_file', { filekey: this.key, filepath: this.f.path });
  }

  override push(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.pushing || this.ended) {
      res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'this key was already pushed' }));
      req.resume();
      return;
    }
    this.pushing = true;
    const hash = createHash('sha256');
    let bytes = 0;
    const max = this.host.options.maxFileBytes;
    const meter = new Transform({
      transform: (piece: Buffer, _encoding, done) => {
        bytes += piece.length;
        if (bytes > max) {
          done(new ClaError(ErrorCode.IoError, `The pushed file is larger than the hub accepts (${max} bytes)`, { data: { max } }));
          return;
        }
        try {
          this.host.spool.reserve(piece.length);
          this.reserved += piece.length;
        } catch (error) {
          done(error as Error);
          return;
        }
        hash.update(piece);
        done(null, piece);
      },
    });
    this.pushed = pipeline(req, meter, fs.createWriteStream(this.host.spool.pathFor(this.key), { mode: 0o600 })).then(() => ({ bytes, sha256: hash.digest('hex') }));
    this.pushed.then(
      () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
      (error: unknown) => {
        const tooLarge = bytes > max;
        if (!res.headersSent) res.writeHead(tooLarge ? 413 : 500, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ error: (error as Error).message }));
        this.fail(error instanceof ClaError ? error : new ClaError(ErrorCode.IoError, `Receiving ${this.f.path} from the legacy worker failed: ${(error as Error).message}`));
      },
    );
  }

  message(verb: string, body: LegacyMessage): void {
    switch (verb) {
      case 'worker.get_file.done':
        void this.relay().catch((error: unknown) => this.fail(error));
        return;
      // 1.x reports a failed push as `worker.put_file.fail` (Dispatcher.ts cmdGetFile): same meaning here.
      case 'worker.get_file.fail':
      case 'worker.put_file.fail': {
        const text = String(body.error ?? 'no reason given');
        const missing = /ENOENT|no such file/i.test(text);
        this.fail(new ClaError(missing ? ErrorCode.FileNotFound : ErrorCode.IoError, missing ? `${this.f.path} does not exist on the worker` : `The legacy worker could not send ${this.f.path}: ${text}`, { data: { path: this.f.path } }));
        return;
      }
      case 'worker.result':
        this.fail(legacyFailure(body, ErrorCode.IoError));
        return;
      default:
    }
  }

  private async relay(): Promise<void> {
    if (!this.pushed) throw new ClaError(ErrorCode.IoError, `The legacy worker reported ${this.f.path} sent, but pushed no bytes`);
    const pushed = await this.pushed;
    if (this.ended) return;
    this.fh = await fs.promises.open(this.host.spool.pathFor(this.key), 'r');
    this.host.emit(frame('file', { re: this.jobId, size: pushed.bytes, mode: 0o644 }));
    const source = new FileSource(this.fh, pushed.bytes, {
      send: (seq, data) => {
        if (!this.ended) this.host.emit(frame('chunk', { re: this.jobId, seq, data: Uint8Array.from(data) }));
      },
      clock: this.host.clock,
      path: this.f.path,
    });
    this.source = source;
    if (this.early > 0) source.grant(this.early);
    const sent = await source.done;
    if (sent.sha256 !== pushed.sha256) {
      throw new ClaError(ErrorCode.ChecksumMismatch, `The spooled copy of ${this.f.path} changed on the hub's disk (sha256 ${sent.sha256}, received ${pushed.sha256})`, { data: { path: this.f.path } });
    }
    this.result({ path: this.f.path, bytes: sent.bytes, sha256: sent.sha256 });
  }

  override input(f: FrameOf<'chunk'> | FrameOf<'credit'>): void {
    if (f.t !== 'credit' || this.ended) return;
    if (this.source) this.source.grant(f.bytes);
    else this.early += f.bytes;
  }

  cancel(): void {
    this.fail(new ClaError(ErrorCode.Cancelled, `Fetch of ${this.f.path} cancelled`));
  }

  override dispose(): void {
    this.source?.stop(new ClaError(ErrorCode.Cancelled, 'fetch ended'));
    const fh = this.fh;
    this.fh = undefined;
    void (async () => {
      // Disposal after the job ended: the push's own failure was reported to the job; here only the spool goes.
      await this.pushed?.catch(() => undefined);
      await fh?.close().catch(() => undefined);
      await this.host.spool.remove(this.key);
      this.host.spool.release(this.reserved);
      this.reserved = 0;
    })();
  }
}
