/**
 * The admin HTTP listener: the JSON management API (routes in admin-http-routes.ts), Server-Sent Events,
 * Prometheus `/metrics` and the dashboard's static files. It is a separate listener from the worker
 * websocket, bound to 127.0.0.1 by default, so exposing workers (`--host 0.0.0.0`) does not expose it.
 *
 * Request pipeline, in order:
 * 1. Host check: on a loopback address only `127.0.0.1`, `localhost` and `[::1]` are accepted as `Host`
 *    (a DNS-rebinding page would otherwise reach the unauthenticated `/metrics` and the login).
 * 2. No secrets in URLs: a `token` or `access_token` query parameter is refused.
 * 3. Route, or static file, or 404 / 405.
 * 4. CSRF guard: every POST must be `content-type: application/json` (a cross-site form cannot send
 *    that without a CORS preflight, which this listener never grants) and, if the browser sends
 *    `Origin`, it must be this listener.
 * 5. Credentials: `Authorization: Bearer <admin token>` or the session cookie (admin-http-auth.ts).
 * Errors are `{ error: { code, message, retryable, data? } }` with the status of their code.
 */
import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { isIPv4, type AddressInfo } from 'node:net';
import { ClaError, ErrorCode, InvalidArgumentError, describeValue, toWireError } from '../errors.ts';
import { guardConnections } from '../transport/connection-guard.ts';
import { AdminAuth } from './admin-http-auth.ts';
import { AdminHttpError, HANDLED, matchRoute, type RouteContext } from './admin-http-routes.ts';
import { DASHBOARD_CSP, DEFAULT_DASHBOARD_DIR, resolveStatic } from './admin-http-static.ts';
import type { Observable } from 'rxjs';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { HUB_ID_HEADER } from '../transport/ws-server.ts';
import type { HubChange } from './hub-change.ts';
import type { HubMetrics } from './metrics.ts';
import type { MethodTable } from './methods/method-table.ts';
import type { Registry } from './registry.ts';

/** What the admin listener needs from the hub. */
export interface AdminHttpDeps {
  registry: Registry;
  clock: Clock;
  log: Logger;
  metrics: HubMetrics;
  /** Every operation goes through the method table, as on the admin websocket. */
  methods: MethodTable;
  changes$: Observable<HubChange>;
  /** The worker list the event stream sends (synchronous, unlike a method call). */
  listWorkers(project?: string): Promise<unknown>;
  hubId: string;
}

/** Default admin port (the worker websocket's default is 8733). */
export const DEFAULT_ADMIN_PORT = 8734;

/** Options for {@link startAdminHttp}. */
export interface AdminHttpOptions {
  /** Interface to bind. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 8734 */
  port?: number;
  /** Lifetime of a browser session, in ms. @default 43200000 (12 h) */
  sessionTtlMs?: number;
  /** Folder of the dashboard's static files. @default src/hub/dashboard */
  dashboardDir?: string;
  /** Largest JSON body accepted, in bytes. @default 65536 */
  maxBodyBytes?: number;
}

/** {@link AdminHttpOptions} with every default filled in. */
export type ParsedAdminHttpOptions = Required<AdminHttpOptions>;

/** Fills defaults and checks types and ranges. */
export function parseAdminHttpOptions(options: AdminHttpOptions = {}): ParsedAdminHttpOptions {
  const { host = '127.0.0.1', port = DEFAULT_ADMIN_PORT, sessionTtlMs = 12 * 3600_000, dashboardDir = DEFAULT_DASHBOARD_DIR, maxBodyBytes = 65_536 } = options;
  if (typeof host !== 'string' || host === '') throw new InvalidArgumentError(`Expected \`host\` to be a non-empty string, got ${describeValue(host)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`Expected \`port\` to be an integer 0-65535, got ${describeValue(port)}`);
  if (!Number.isInteger(sessionTtlMs) || sessionTtlMs < 1000) throw new InvalidArgumentError(`Expected \`sessionTtlMs\` to be an integer >= 1000, got ${describeValue(sessionTtlMs)}`);
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) throw new InvalidArgumentError(`Expected \`maxBodyBytes\` to be a positive integer, got ${describeValue(maxBodyBytes)}`);
  if (typeof dashboardDir !== 'string') throw new InvalidArgumentError(`Expected \`dashboardDir\` to be a string, got ${describeValue(dashboardDir)}`);
  return { host, port, sessionTtlMs, dashboardDir, maxBodyBytes };
}

/** A running admin listener. */
export interface AdminHttpServer {
  /** `http://host:port` */
  readonly url: string;
  readonly auth: AdminAuth;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
/**
 * `localhost`, `::1` or an IPv4 address in 127.0.0.0/8. A name that only starts with `127.` (such as
 * `127.0.0.1.evil.example`) is a DNS name an attacker controls, so it must be a whole IPv4 address (issue 11).
 */
const isLoopbackHost = (host: string) => LOOPBACK.has(host) || (isIPv4(host) && host.startsWith('127.'));

/** The host name of a `Host` header value (`[::1]:8734` -> `::1`). */
function hostName(header: string | undefined): string {
  if (!header) return '';
  const v6 = /^\[([^\]]+)\]/.exec(header);
  return (v6 ? v6[1]! : header.replace(/:\d*$/, '')).toLowerCase();
}

function statusFor(error: unknown): number {
  if (error instanceof AdminHttpError) return error.status;
  if (!(error instanceof ClaError)) return 500;
  switch (error.code) {
    case ErrorCode.BadAdminToken:
      return 401;
    case ErrorCode.UnknownWorker:
    case ErrorCode.UnknownProject:
    case ErrorCode.UnknownMethod:
    case ErrorCode.UnknownTask:
    case ErrorCode.UnknownWorkflow:
      return 404;
    case ErrorCode.NoWorker:
    case ErrorCode.ProjectExists:
    case ErrorCode.DuplicateWorker:
      return 409;
    case ErrorCode.Internal:
      return 500;
    default:
      return 400;
  }
}

/** JSON has no binary: a `Uint8Array` (task data, eval results) is sent as `{"$binary": "<base64>"}`. */
function jsonReplacer(this: Record<string, unknown>, key: string, v: unknown): unknown {
  const original = this[key];
  return original instanceof Uint8Array ? { $binary: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') } : v;
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value ?? null, jsonReplacer);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

/** Reads a JSON object body, at most `limit` bytes; `{}` when empty. */
async function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new AdminHttpError(413, ErrorCode.InvalidArgument, `The request body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('The request body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError('Expected the request body to be a JSON object');
  return value as Record<string, unknown>;
}

function serveStatic(req: IncomingMessage, res: ServerResponse, root: string, pathname: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const found = resolveStatic(root, pathname);
  if (!found) return false;
  const headers: Record<string, string | number> = {
    'content-type': found.contentType,
    'content-length': found.size,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (found.contentType.startsWith('text/html')) {
    headers['content-security-policy'] = DASHBOARD_CSP;
    headers['x-frame-options'] = 'DENY';
  }
  res.writeHead(200, headers);
  if (req.method === 'HEAD') res.end();
  else fs.createReadStream(found.file).on('error', () => res.destroy()).pipe(res);
  return true;
}

/** Starts the admin listener of a hub. */
export async function startAdminHttp(options: AdminHttpOptions, hub: AdminHttpDeps): Promise<AdminHttpServer> {
  const opts = parseAdminHttpOptions(options);
  const auth = new AdminAuth(hub.registry, hub.clock, opts.sessionTtlMs);
  const log = hub.log.child({ component: 'admin-http' });
  const streams = new Set<() => void>();
  const checkHost = isLoopbackHost(opts.host);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader(HUB_ID_HEADER, hub.hubId);
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    if (checkHost && !isLoopbackHost(hostName(req.headers.host))) {
      throw new AdminHttpError(421, ErrorCode.InvalidArgument, 'Unexpected Host header: the admin API answers on 127.0.0.1 / localhost only');
    }
    if (url.searchParams.has('token') || url.searchParams.has('access_token')) {
      throw new InvalidArgumentError('Never put the admin token in a URL: send `Authorization: Bearer <token>`, or log in with POST /api/login');
    }
    const matched = matchRoute(req.method ?? 'GET', url.pathname);
    if (matched === undefined) {
      if (!url.pathname.startsWith('/api/') && serveStatic(req, res, opts.dashboardDir, url.pathname)) return;
      throw new AdminHttpError(404, ErrorCode.Unsupported, `No such endpoint: ${req.method} ${url.pathname}`);
    }
    if (matched === 'method') throw new AdminHttpError(405, ErrorCode.Unsupported, `${req.method} is not allowed on ${url.pathname}`);
    const { route, params } = matched;
    let body: Record<string, unknown> = {};
    if (route.method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') throw new AdminHttpError(415, ErrorCode.InvalidArgument, 'POST requests must have `content-type: application/json`');
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== 'null' && hostOf(origin) !== (req.headers.host ?? '').toLowerCase()) {
        throw new AdminHttpError(403, ErrorCode.InvalidArgument, 'Cross-origin requests are not allowed');
      }
      if (origin === 'null') throw new AdminHttpError(403, ErrorCode.InvalidArgument, 'Cross-origin requests are not allowed');
      body = await readJsonBody(req, opts.maxBodyBytes);
    }
    const authKind = await auth.check(req);
    if (!route.public && authKind === undefined) {
      throw new AdminHttpError(401, ErrorCode.BadAdminToken, 'Missing or invalid admin token: send `Authorization: Bearer <token>` (the token is in the file beside the hub data file), or log in with POST /api/login.');
    }
    const ctx: RouteContext = { req, res, params, query: url.searchParams, body, hub, auth, authKind, log, track: (end) => {
      streams.add(end);
      res.on('close', () => streams.delete(end));
    } };
    const answer = await route.handle(ctx);
    if (answer !== HANDLED) sendJson(res, 200, answer);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = statusFor(error);
      if (status >= 500) log.error({ err: error, method: req.method, path: req.url?.split('?')[0] }, 'admin request failed');
      else log.debug({ code: (error as ClaError).code, method: req.method, path: req.url?.split('?')[0] }, 'admin request refused');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const wire = status >= 500 && !(error instanceof ClaError) ? { code: ErrorCode.Internal, message: 'Internal error; see the hub log', retryable: false } : toWireError(error);
      sendJson(res, status, { error: wire });
    });
  });
  // The same guard as the worker listener: half-sent request heads are dropped, connections per address bounded.
  guardConnections(server, { headersTimeoutMs: 10_000, maxConnectionsPerAddress: 10_000, maxPendingPerAddress: 128 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new ClaError(ErrorCode.IoError, `Cannot listen on ${opts.host}:${opts.port} for the admin API: ${error.code ?? error.message}`, { cause: error, data: { errno: error.code ?? null, host: opts.host, port: opts.port } })),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${shown}:${address.port}`;
  log.info({ url }, 'admin API listening');
  return {
    url,
    auth,
    close: () =>
      new Promise<void>((resolve) => {
        for (const end of streams) end();
        streams.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `host[:port]` of an origin URL, lower-case; '' if it is not a URL. */
function hostOf(origin: string): string {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return '';
  }
}
