/**
 * A scripted Clarive legacy worker for tests: it sends exactly the requests the real clients send (paths,
 * query strings, JSON shapes) and parses the event stream the way they do. Sources:
 * - 1.x: rodrigolive/cla-worker src/pubsub.ts (`address()`: URLSearchParams {id, token, origin, oid,
 *   version, tags, envs}; register/unregister add `passkey` as an axios param; publish posts `{event, ...}`),
 *   src/util/eventsource.js (the SSE parser, `Last-Event-ID` from `id:` lines);
 * - 2.x: clarive/cla-worker internal/pubsub/client.go (`url.Values.Encode()`, which sorts keys;
 *   push/pop carry only id, token, key[, filename]; close posts `{id, token}`), internal/sse/client.go.
 */
import http from 'node:http';

/** One command read from the event stream. */
export interface LegacyCommand {
  verb: string;
  oid: string;
  payload: Record<string, unknown>;
}

/** Options of a scripted worker. */
export interface LegacyClientOptions {
  generation: 1 | 2;
  id: string;
  token?: string;
  tags?: string[];
  envs?: string[];
}

/** A response: status and body text. */
export interface Answer {
  status: number;
  body: string;
}

/** Go's url.Values.Encode(): keys sorted, form encoding. */
function goEncode(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((key) => `${encodeURIComponent(key)}=${encodeURIComponent(params[key]!).replace(/%20/g, '+')}`)
    .join('&');
}

/** Sends one request; resolves with the whole answer. */
export function request(url: string, method: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const pieces: Buffer[] = [];
      res.on('data', (piece: Buffer) => pieces.push(piece));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(pieces).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A legacy worker driven step by step by a test. */
export class LegacyClient {
  token: string;
  /** The `Last-Event-ID` its EventSource would send (from `id:` lines). */
  lastEventId = '';
  /** The `oid` it tracks (from `event: oid` and message oids). */
  lastOid = '';
  private stream: http.IncomingMessage | undefined;
  private readonly queue: LegacyCommand[] = [];
  private readonly waiters: Array<(command: LegacyCommand) => void> = [];
  readonly origin: string;
  readonly version: string;

  constructor(
    private readonly base: string,
    private readonly options: LegacyClientOptions,
  ) {
    this.token = options.token ?? '';
    this.origin = options.generation === 1 ? 'joe@build1#4242' : 'joe@build1/4242';
    this.version = options.generation === 1 ? '1.4.0' : '2.1.0';
  }

  get id(): string {
    return this.options.id;
  }

  /** `address(path)` of the client: the credentials and facts on every request. */
  address(path: string): string {
    const tags = (this.options.tags ?? []).join(',');
    if (this.options.generation === 1) {
      const search = new URLSearchParams({ id: this.id, token: this.token, origin: this.origin, oid: this.lastOid || '', version: this.version, tags, envs: String(this.options.envs ?? []) });
      return `${this.base}${path}?${search.toString()}`;
    }
    return `${this.base}${path}?${goEncode({ id: this.id, token: this.token, origin: this.origin, oid: this.lastOid, tags, version: this.version })}`;
  }

  /** `cla-worker register --passkey`: returns the parsed JSON answer. */
  async register(passkey: string): Promise<Record<string, unknown>> {
    const url =
      this.options.generation === 1
        ? `${this.address('/pubsub/register')}&${new URLSearchParams({ passkey })}`
        : `${this.base}/workeradmin/register_api?${goEncode({ path: 'register', id: this.id, token: this.token, origin: this.origin, tags: (this.options.tags ?? []).join(','), version: this.version, passkey, server: 'build1', user: 'joe' })}`;
    const answer = await request(url, 'POST');
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    if (typeof body.token === 'string') this.token = body.token;
    return body;
  }

  /** `cla-worker unregister`. */
  async unregister(passkey = ''): Promise<Record<string, unknown>> {
    const url =
      this.options.generation === 1
        ? `${this.address('/pubsub/unregister')}&${new URLSearchParams({ token: this.token, passkey })}`
        : `${this.base}/workeradmin/register_api?${goEncode({ path: 'unregister_by_token', id: this.id, token: this.token })}`;
    return JSON.parse((await request(url, 'POST')).body) as Record<string, unknown>;
  }

  /** Opens the event stream; resolves with the status (200: commands arrive through `next()`). */
  connect(): Promise<number> {
    const headers: Record<string, string> = { 'Cache-Control': 'no-cache', Accept: 'text/event-stream' };
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    return new Promise((resolve, reject) => {
      const req = http.request(this.address('/pubsub/events'), { method: 'GET', headers }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          resolve(res.statusCode ?? 0);
          return;
        }
        this.stream = res;
        this.parse(res);
        resolve(200);
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** Drops the event stream without telling the hub (a network cut). */
  drop(): void {
    this.stream?.destroy();
    this.stream = undefined;
  }

  /** True once the hub ended the stream. */
  ended(): Promise<void> {
    const stream = this.stream;
    if (!stream || stream.readableEnded) return Promise.resolve();
    return new Promise((resolve) => stream.once('close', () => resolve()));
  }

  /** The next command from the stream. */
  next(): Promise<LegacyCommand> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** `POST /pubsub/publish {event, ...data}`. */
  async publish(event: string, data: Record<string, unknown>): Promise<Answer> {
    return request(this.address('/pubsub/publish'), 'POST', JSON.stringify({ event, ...data }), { 'content-type': 'application/json' });
  }

  /** Acknowledges a command as both clients do first (`<verb>.ack {oid}`). */
  ack(command: LegacyCommand): Promise<Answer> {
    return this.publish(`${command.verb}.ack`, { oid: command.oid });
  }

  /** `POST /pubsub/pop?key=`: the file of a put_file. */
  async pop(key: string): Promise<{ status: number; bytes: Buffer }> {
    const url = this.options.generation === 1 ? `${this.address('/pubsub/pop')}&${new URLSearchParams({ key })}` : `${this.base}/pubsub/pop?${goEncode({ id: this.id, token: this.token, key })}`;
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST' }, (res) => {
        const pieces: Buffer[] = [];
        res.on('data', (piece: Buffer) => pieces.push(piece));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(pieces) }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** `POST /pubsub/push?key&filename`: chunked octet-stream, no length up front. */
  push(key: string, filename: string, bytes: Buffer): Promise<Answer> {
    const url = this.options.generation === 1 ? `${this.address('/pubsub/push')}&${new URLSearchParams({ key, filename })}` : `${this.base}/pubsub/push?${goEncode({ id: this.id, token: this.token, key, filename })}`;
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' } }, (res) => {
        const pieces: Buffer[] = [];
        res.on('data', (piece: Buffer) => pieces.push(piece));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(pieces).toString('utf8') }));
      });
      req.on('error', reject);
      for (let at = 0; at < bytes.length; at += 64 * 1024) req.write(bytes.subarray(at, at + 64 * 1024));
      req.end();
    });
  }

  /** `POST /pubsub/close {id, token}` (after a worker.shutdown, or on exit). */
  close(): Promise<Answer> {
    this.drop();
    return request(this.address('/pubsub/close'), 'POST', JSON.stringify({ id: this.id, token: this.token }), { 'content-type': 'application/json' });
  }

  /** The SSE parser of internal/sse/client.go (and eventsource.js): lines, `data`/`event`/`id`, blank line dispatches. */
  private parse(res: http.IncomingMessage): void {
    let buffer = '';
    let data = '';
    let event = '';
    let id = '';
    res.setEncoding('utf8');
    res.on('data', (text: string) => {
      buffer += text;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (line === '') {
          if (data !== '') this.dispatch(event || 'message', data.replace(/\n$/, ''), id);
          data = '';
          event = '';
          id = '';
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data += `${value}\n`;
        else if (field === 'event') event = value;
        else if (field === 'id') id = value;
      }
    });
  }

  private dispatch(event: string, data: string, id: string): void {
    if (id) this.lastEventId = id;
    if (event === 'oid') {
      this.lastOid = data;
      return;
    }
    if (event !== 'message') return;
    const message = JSON.parse(data) as { oid?: string; events?: Record<string, Array<Record<string, unknown>>> };
    if (message.oid) this.lastOid = message.oid;
    for (const [verb, items] of Object.entries(message.events ?? {})) {
      for (const payload of items) {
        const command = { verb, oid: message.oid ?? this.lastOid, payload };
        const waiter = this.waiters.shift();
        if (waiter) waiter(command);
        else this.queue.push(command);
      }
    }
  }
}
