/**
 * The commands waiting for one legacy worker, and the Server-Sent Events stream they go out on.
 *
 * Each command is one SSE event: `id: <oid>` then `data: {"oid":"<oid>","events":{"worker.<verb>":[payload]}}`
 * (both clients take the message id from the JSON's `oid`; the `id:` field makes their EventSource send it
 * back as `Last-Event-ID` on reconnect: rodrigolive/cla-worker src/util/eventsource.js, clarive/cla-worker
 * internal/sse/client.go). A command stays in the outbox until the worker acknowledges it
 * (`<verb>.ack`), so a reconnect with `Last-Event-ID` gets again what it did not see. The outbox is bounded
 * in count and bytes; a full outbox refuses new commands.
 */
import type http from 'node:http';
import { ClaError, ErrorCode } from '../../errors.ts';

interface Entry {
  seq: number;
  text: string;
  bytes: number;
}

/** A bounded queue of unacknowledged commands plus the stream currently attached, if any. */
export class SseOutbox {
  private readonly entries: Entry[] = [];
  private bytes = 0;
  private seq = 0;
  private stream: http.ServerResponse | undefined;

  /** @param epoch prefix of this session's message ids, so ids of another session are never taken as ours. */
  constructor(
    readonly epoch: string,
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {}

  /** Bytes queued, for `Transport.bufferedBytes()`. */
  queuedBytes(): number {
    return this.bytes;
  }

  /** True while an event stream is attached. */
  attached(): boolean {
    return this.stream !== undefined && !this.stream.writableEnded && !this.stream.destroyed;
  }

  /** The message id for the next command. */
  nextOid(): string {
    this.seq += 1;
    return `${this.epoch}-${this.seq}`;
  }

  /** Queues `verb` with `payload` under `oid` (from `nextOid`) and writes it if a stream is attached. */
  push(oid: string, verb: string, payload: Record<string, unknown>, keep = true): void {
    const data = JSON.stringify({ oid, events: { [verb]: [payload] } });
    const text = `id: ${oid}\ndata: ${data}\n\n`;
    const seq = this.seqOf(oid) ?? 0;
    const bytes = Buffer.byteLength(text);
    if (keep) {
      if (this.entries.length >= this.maxMessages || this.bytes + bytes > this.maxBytes) {
        throw new ClaError(ErrorCode.WorkerBusy, `The legacy worker has ${this.entries.length} unacknowledged commands (${this.bytes} bytes) queued; it is not reading them`, {
          retryable: true,
          data: { queued: this.entries.length, bytes: this.bytes },
        });
      }
      this.entries.push({ seq, text, bytes });
      this.bytes += bytes;
    }
    this.write(text);
  }

  /** The worker acknowledged `oid`: it is not sent again. */
  ack(oid: string): void {
    const seq = this.seqOf(oid);
    const index = this.entries.findIndex((entry) => entry.seq === seq);
    if (index < 0) return;
    this.bytes -= this.entries[index]!.bytes;
    this.entries.splice(index, 1);
  }

  /** Number of this session's message ids a `Last-Event-ID` names, or undefined when it is not ours. */
  seqOf(oid: string): number | undefined {
    if (!oid.startsWith(`${this.epoch}-`)) return undefined;
    const seq = Number(oid.slice(this.epoch.length + 1));
    return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
  }

  /**
   * Attaches a new event stream (ending any previous one), tells the worker its last id (`event: oid`),
   * and replays the unacknowledged commands after `after` (all of them when undefined).
   */
  attach(res: http.ServerResponse, after: number | undefined): void {
    this.detach();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.stream = res;
    // `event: oid` moves the worker's last id (both clients store it); a fresh stream gets a comment only.
    if (after !== undefined) res.write(`event: oid\ndata: ${this.epoch}-${after}\n\n`);
    else res.write(': connected\n\n');
    for (const entry of this.entries) if (after === undefined || entry.seq > after) res.write(entry.text);
  }

  /** A comment line that keeps proxies from closing an idle stream and finds dead connections. */
  keepAlive(): void {
    this.write(': keep-alive\n\n');
  }

  /** Ends the attached stream, if any. */
  detach(): void {
    const stream = this.stream;
    this.stream = undefined;
    if (stream && !stream.writableEnded) stream.end();
  }

  /** Forgets every queued command. */
  clear(): void {
    this.entries.length = 0;
    this.bytes = 0;
  }

  private write(text: string): void {
    if (this.attached()) this.stream!.write(text);
  }
}
