/**
 * The Clarive legacy HTTP + SSE pubsub routes (`cla-hub start --legacy-pubsub`, issue 14), served on the
 * worker port so existing Clarive workers connect unchanged. Contract and sources:
 * - register: 1.x `POST /pubsub/register?id&token&origin&oid&version&tags&envs&passkey` -> `{token,
 *   projects}` | `{error}` (rodrigolive/cla-worker src/pubsub.ts, src/cmd/register.ts); 2.x `POST
 *   /workeradmin/register_api?path=register&id&token&origin&tags&version&passkey&server&user[&server_mid]`
 *   -> `{token}` | `{error, msg?}` (clarive/cla-worker internal/pubsub/client.go, workeradmin_test.go);
 * - unregister: 1.x `POST /pubsub/unregister?...&passkey`, 2.x `register_api?path=unregister_by_token&id&token`;
 * - `GET /pubsub/events`: the SSE command stream; a non-200 answer makes both clients exit 1;
 * - `POST /pubsub/publish` `{event, oid, ...}`, `POST /pubsub/pop?key`, `POST /pubsub/push?key&filename`,
 *   `POST /pubsub/close {id, token}`.
 * Every request but registration carries the worker's id and token in its query string. Those
 * credentials are accepted on these routes only, checked like a websocket `hello` (hashed, constant
 * time), and never logged: log lines name the route and the worker id, never the URL.
 */
import type http from 'node:http';
import { ClaError, ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../clock.ts';
import type { FrameTap, Transport } from '../../transport/transport.ts';
import type { Registry } from '../registry.ts';
import type { LegacyMessage } from './legacy-jobs.ts';
import { defaultSpoolParent, legacyAgent, parseLegacyOptions, parseLegacyQuery, type LegacyPubsubOptions, type LegacyQuery, type ParsedLegacyOptions } from './legacy-options.ts';
import { LegacySession } from './legacy-session.ts';
import { Spool } from './spool.ts';

/** What the legacy routes need from the hub. */
export interface LegacyHubPort {
  registry: Registry;
  clock: Clock;
  log: Logger;
  tap?: FrameTap;
  /** Hands a new worker connection to the hub (as `Hub.accept`). */
  accept(transport: Transport): void;
  /** A worker unregistered (as `Hub.onUnregistered`). */
  onUnregistered(id: string, remaining: string[]): void;
}

const SMALL_BODY_BYTES = 64 * 1024;

/** The legacy routes and their sessions. */
export class LegacyPubsub {
  private readonly options: ParsedLegacyOptions;
  private readonly sessions = new Map<string, LegacySession>();
  private spool: Spool | undefined;

  constructor(
    private readonly hub: LegacyHubPort,
    options: LegacyPubsubOptions = {},
  ) {
    this.options = parseLegacyOptions(options);
  }

  /** Prepares the spool folder. */
  async start(): Promise<void> {
    this.spool = await Spool.open(this.options.spoolDir, defaultSpoolParent(), this.options.maxSpoolBytes);
  }

  /** Ends every session (the workers reconnect to the next hub) and empties the spool. */
  async close(): Promise<void> {
    for (const session of [...this.sessions.values()]) session.close(1001, 'hub stopping');
    await this.spool?.close();
  }

  /** Legacy sessions now, for tests and views. */
  session(workerId: string): LegacySession | undefined {
    return this.sessions.get(workerId);
  }

  /** The worker listener's handler for plain HTTP requests. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    const query = parseLegacyQuery(url.searchParams);
    this.route(route, url.searchParams, query, req, res).catch((error: unknown) => {
      const known = error instanceof ClaError;
      if (!known) this.hub.log.error({ err: error, route, worker: query.id }, 'legacy route failed');
      if (!res.headersSent) reply(res, statusFor(error), { error: known ? error.message : 'internal error', code: known ? error.code : ErrorCode.Internal });
      else res.destroy();
      req.resume();
    });
  }

  private async route(route: string, params: URLSearchParams, query: LegacyQuery, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    switch (route) {
      case 'POST /pubsub/register':
        req.resume();
        reply(res, 200, await this.register(query, params.get('passkey') ?? ''));
        return;
      case 'POST /pubsub/unregister':
        req.resume();
        reply(res, 200, await this.unregister(query, false));
        return;
      case 'POST /workeradmin/register_api': {
        req.resume();
        const path = params.get('path');
        if (path === 'register') {
          const id = query.id || (params.get('user') && params.get('server') ? `${params.get('user')}@${params.get('server')}` : '');
          reply(res, 200, await this.register({ ...query, id }, params.get('passkey') ?? ''));
        } else if (path === 'unregister_by_token') reply(res, 200, await this.unregister(query, true));
        else reply(res, 200, { error: 1, msg: 'unknown resource' });
        return;
      }
      case 'GET /pubsub/events':
        await this.events(query, req, res);
        return;
      case 'POST /pubsub/publish': {
        const session = await this.sessionFor(query);
        const body = await readJson(req, this.options.maxMessageBytes);
        if (typeof body.event !== 'string') throw new ClaError(ErrorCode.InvalidArgument, 'Expected a JSON object with an `event` string');
        session?.publish(body as LegacyMessage);
        reply(res, 200, {});
        return;
      }
      case 'POST /pubsub/pop':
        req.resume();
        (await this.fileJob(query, params)).pop(res);
        return;
      case 'POST /pubsub/push':
        (await this.fileJob(query, params)).push(req, res);
        return;
      case 'POST /pubsub/close': {
        const body = await readJson(req, SMALL_BODY_BYTES).catch(() => ({}) as Record<string, unknown>);
        const id = typeof body.id === 'string' && body.id !== '' ? body.id : query.id;
        const token = typeof body.token === 'string' && body.token !== '' ? body.token : query.token;
        await this.authenticate(id, token);
        const session = this.sessions.get(id);
        if (session) {
          this.hub.log.info({ worker: id }, 'legacy worker closed its connection');
          session.closeByWorker();
        }
        reply(res, 200, {});
        return;
      }
      default:
        req.resume();
        if (route.includes(' /pubsub/') || route.includes(' /workeradmin/')) reply(res, 404, { error: `no legacy route ${route}` });
        else res.writeHead(404, { 'content-type': 'text/plain' }).end('cla-hub: connect with a websocket\n');
    }
  }

  private async register(query: LegacyQuery, passkey: string): Promise<Record<string, unknown>> {
    if (passkey === '') return { error: 'missing passkey: pass the project passkey shown by `cla-hub project passkey NAME`' };
    const agent = legacyAgent(query);
    try {
      const result = await this.hub.registry.register({ passkey, id: query.id || undefined, token: query.token || undefined, agent, legacy: true });
      this.hub.log.info({ worker: result.id, project: result.added, legacy: true }, 'legacy worker registered');
      return { id: result.id, token: result.token, projects: result.projects };
    } catch (error) {
      // A legacy worker re-registering with its own token gets its registration back (Clarive did so).
      if (error instanceof ClaError && error.code === ErrorCode.DuplicateWorker && query.token !== '' && (await this.hub.registry.isLegacyWorker(query.id))) {
        const worker = await this.tryAuthenticate(query.id, query.token);
        if (worker) return { id: worker.id, token: query.token, projects: worker.projects };
      }
      return { error: error instanceof Error ? error.message : String(error) };
    }
  }

  private async unregister(query: LegacyQuery, v2: boolean): Promise<Record<string, unknown>> {
    try {
      const result = await this.hub.registry.unregister(query.id, query.token);
      this.hub.log.info({ worker: query.id, legacy: true }, 'legacy worker unregistered');
      this.hub.onUnregistered(query.id, result.projects);
      return v2 ? { deleted: 1 } : { registration: query.id, projects: result.projects };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return v2 ? { error: 1, msg: message } : { error: message };
    }
  }

  private async events(query: LegacyQuery, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume();
    await this.authenticate(query.id, query.token);
    const header = req.headers['last-event-id'];
    const lastId = (Array.isArray(header) ? header[0] : header) || query.oid;
    const existing = this.sessions.get(query.id);
    if (existing?.canResume(lastId)) {
      this.hub.log.info({ worker: query.id }, 'legacy worker reconnected');
      existing.attach(res, lastId);
      return;
    }
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const session = new LegacySession(query, remote, {
      clock: this.hub.clock,
      log: this.hub.log,
      tap: this.hub.tap,
      options: this.options,
      spool: this.spool!,
      onClosed: (closed) => {
        if (this.sessions.get(closed.workerId) === closed) this.sessions.delete(closed.workerId);
      },
    });
    let hello;
    try {
      hello = session.helloFrame();
    } catch (error) {
      session.close(1000, 'bad hello');
      throw error;
    }
    this.sessions.set(query.id, session);
    this.hub.accept(session);
    const outcome = await session.hello(hello);
    if (!outcome.ok) {
      session.close(1000, outcome.error.code);
      // A refused hello leaves the worker's earlier session (if any) as it was.
      if (existing?.isOpen()) this.sessions.set(query.id, existing);
      throw new ClaError(outcome.error.code as ErrorCode, outcome.error.message);
    }
    if (res.destroyed) {
      session.close(1000, 'event stream closed before it opened');
      return;
    }
    session.attach(res, '');
  }

  /** The session a publish is for; authenticates first. Unknown sessions publish into the void (see below). */
  private async sessionFor(query: LegacyQuery): Promise<LegacySession | undefined> {
    await this.authenticate(query.id, query.token);
    // A message for a session that ended (hub restarted, grace ran out) is answered 200 and dropped: a
    // 4xx would make the 2.x client retry it for minutes (internal/retry), and its job is gone anyway.
    return this.sessions.get(query.id);
  }

  private async fileJob(query: LegacyQuery, params: URLSearchParams) {
    await this.authenticate(query.id, query.token);
    const job = this.sessions.get(query.id)?.jobForKey(params.get('key') ?? '');
    if (!job) throw new ClaError(ErrorCode.FileNotFound, 'No transfer with this key for this worker');
    return job;
  }

  private async authenticate(id: string, token: string) {
    const worker = await this.hub.registry.authenticate(id, token);
    if (!(await this.hub.registry.isLegacyWorker(id))) {
      throw new ClaError(ErrorCode.BadToken, `Worker ${id} registered as a cla-worker: connect with cla-worker, not through the legacy pubsub`);
    }
    return worker;
  }

  private async tryAuthenticate(id: string, token: string) {
    try {
      return await this.authenticate(id, token);
    } catch {
      return undefined;
    }
  }
}

/** HTTP status of a refused request: 401 for credentials (both clients print "not authorized"). */
function statusFor(error: unknown): number {
  if (!(error instanceof ClaError)) return 500;
  switch (error.code) {
    case ErrorCode.BadToken:
      return 401;
    case ErrorCode.FileNotFound:
      return 404;
    case ErrorCode.DuplicateWorker:
      return 409;
    case ErrorCode.FrameTooLarge:
      return 413;
    case ErrorCode.InvalidArgument:
    case ErrorCode.BadFrame:
    case ErrorCode.UnknownEnv:
      return 400;
    default:
      return 403;
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

/** Reads a JSON object body of at most `limit` bytes (FRAME_TOO_LARGE beyond, INVALID_ARGUMENT if not JSON). */
async function readJson(req: http.IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const pieces: Buffer[] = [];
  let size = 0;
  for await (const piece of req) {
    size += (piece as Buffer).length;
    if (size > limit) {
      // The caller answers 413 and drains the rest without keeping it.
      throw new ClaError(ErrorCode.FrameTooLarge, `The request body is larger than ${limit} bytes`, { data: { limit } });
    }
    pieces.push(piece as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(pieces).toString('utf8'));
  } catch {
    throw new ClaError(ErrorCode.InvalidArgument, 'Expected a JSON body');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ClaError(ErrorCode.InvalidArgument, 'Expected a JSON object body');
  return value as Record<string, unknown>;
}
