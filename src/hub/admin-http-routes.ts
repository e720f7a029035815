/**
 * The admin HTTP API's routes: one table, each entry a method, a path pattern (`:name` captures one
 * segment) and a handler that returns the JSON answer (or {@link HANDLED} when it wrote the response
 * itself). Every route needs the admin token or a browser session unless marked `public`.
 * README.md, "Management", lists them with their bodies and answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { workerMachine } from '../../machines/worker.machine.ts';
import { ClaError, ErrorCode, InvalidArgumentError, describeValue } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { AdminAuth, AdminAuthKind } from './admin-http-auth.ts';
import { streamEvents } from './admin-http-events.ts';
import type { AdminHttpDeps } from './admin-http.ts';
import { openApiDocument } from './methods/openapi.ts';

/** Returned by a handler that wrote its own response. */
export const HANDLED = Symbol('handled');

/** What a handler gets. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body of a POST (`{}` when empty). */
  body: Record<string, unknown>;
  hub: AdminHttpDeps;
  auth: AdminAuth;
  /** How the request authenticated; `undefined` on public routes without credentials. */
  authKind: AdminAuthKind | undefined;
  log: Logger;
  /** Registers the end of a long-lived response (event streams), so closing the listener ends it. */
  track: (end: () => void) => void;
}

/** One route. */
export interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** Needs no credentials. @default false */
  public?: boolean;
  handle(ctx: RouteContext): unknown;
}

/** A typed HTTP error: a {@link ClaError} with the status it answers with. */
export class AdminHttpError extends ClaError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
  ) {
    super(code, message);
    this.name = 'AdminHttpError';
  }
}

/** Default and largest `limit` of job lists. */
const DEFAULT_JOBS = 50;

function queryString(query: URLSearchParams, name: string): string | undefined {
  const value = query.get(name);
  return value === null || value === '' ? undefined : value;
}

function queryLimit(query: URLSearchParams): number {
  const raw = query.get('limit');
  if (raw === null || raw === '') return DEFAULT_JOBS;
  if (!/^\d{1,6}$/.test(raw)) throw new InvalidArgumentError(`Expected \`limit\` to be a positive integer, got ${describeValue(raw)}`);
  return Number(raw);
}

function bodyString(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`Expected \`${name}\` in the JSON body to be a non-empty string, got ${describeValue(value)}`);
  }
  return value;
}

/** A copy without the `undefined` fields: a query parameter that is absent is not sent as a param. */
function optional(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, value]) => value !== undefined));
}

/** Every route of the admin listener except static files. */
export const ROUTES: Route[] = [
  {
    method: 'POST',
    path: '/api/login',
    public: true,
    handle: async ({ auth, body, res }) => {
      const session = await auth.login(body.token);
      if (!session) throw new AdminHttpError(401, ErrorCode.BadAdminToken, 'The admin token is not valid.');
      res.setHeader('set-cookie', session.cookie);
      return { ok: true, expiresAt: session.expiresAt };
    },
  },
  {
    method: 'POST',
    path: '/api/logout',
    public: true,
    handle: ({ auth, req, res }) => {
      res.setHeader('set-cookie', auth.logout(req));
      return { ok: true };
    },
  },
  {
    method: 'GET',
    path: '/api/session',
    handle: ({ auth, req, authKind }) => ({ auth: authKind, expiresAt: authKind === 'cookie' ? auth.sessionExpiry(req) ?? null : null }),
  },
  // Every operation: the method table, as on the admin websocket (`call`). The body is the params.
  { method: 'POST', path: '/api/call/:method', handle: ({ hub, params, body }) => hub.methods.call(params.method!, body) },
  // The OpenAPI 3.1 document of this API, generated from the methods' schemas.
  { method: 'GET', path: '/api/openapi.json', public: true, handle: ({ hub }) => openApiDocument(hub.methods) },
  // REST-style shortcuts kept for the dashboard and existing scripts; each is one method of the table.
  { method: 'GET', path: '/api/workers', handle: ({ hub, query }) => hub.methods.call('workers.list', optional({ project: queryString(query, 'project') })) },
  { method: 'GET', path: '/api/workers/:id', handle: ({ hub, params }) => hub.methods.call('workers.show', { id: params.id }) },
  { method: 'POST', path: '/api/workers/:id/disable', handle: ({ hub, params }) => hub.methods.call('workers.disable', { id: params.id }) },
  { method: 'POST', path: '/api/workers/:id/enable', handle: ({ hub, params }) => hub.methods.call('workers.enable', { id: params.id }) },
  { method: 'POST', path: '/api/workers/:id/shutdown', handle: ({ hub, params }) => hub.methods.call('workers.shutdown', { id: params.id }) },
  {
    method: 'POST',
    path: '/api/workers/:id/unregister',
    handle: ({ hub, params, body }) => hub.methods.call('workers.unregister', { id: params.id, project: bodyString(body, 'project') }),
  },
  { method: 'GET', path: '/api/projects', handle: ({ hub }) => hub.methods.call('projects.list', {}) },
  { method: 'GET', path: '/api/projects/:name/passkey', handle: ({ hub, params }) => hub.methods.call('projects.passkey', { name: params.name }) },
  { method: 'POST', path: '/api/projects/:name/passkey/rotate', handle: ({ hub, params }) => hub.methods.call('projects.rotatePasskey', { name: params.name }) },
  { method: 'POST', path: '/api/projects/:name/passkey/invalidate', handle: ({ hub, params }) => hub.methods.call('projects.invalidatePasskey', { name: params.name }) },
  {
    method: 'GET',
    path: '/api/jobs',
    handle: ({ hub, query }) =>
      hub.methods.call('jobs.list', optional({ limit: queryLimit(query), worker: queryString(query, 'worker'), output: query.get('output') === '1' })),
  },
  {
    method: 'GET',
    path: '/api/events',
    handle: ({ hub, query, res, log, track }) => {
      track(streamEvents(res, hub, queryString(query, 'project'), hub.clock, log));
      return HANDLED;
    },
  },
  { method: 'GET', path: '/api/machines/worker', handle: () => workerMachine.toJSON() },
  {
    method: 'GET',
    path: '/metrics',
    // No credentials: the admin listener binds to 127.0.0.1 by default, and scrapers rarely carry tokens.
    public: true,
    handle: async ({ hub, res }) => {
      const text = await hub.metrics.text();
      res.writeHead(200, { 'content-type': hub.metrics.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return HANDLED;
    },
  },
];

/** The route for a method and path: found, wrong method (`405`), or none. */
export function matchRoute(method: string, pathname: string): { route: Route; params: Record<string, string> } | 'method' | undefined {
  const segments = pathname.split('/');
  let wrongMethod = false;
  for (const route of ROUTES) {
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const part = pattern[i]!;
      if (part.startsWith(':')) {
        let value: string;
        try {
          value = decodeURIComponent(segments[i]!);
        } catch {
          value = '';
        }
        if (value === '') ok = false;
        else params[part.slice(1)] = value;
      } else ok = part === segments[i];
    }
    if (!ok) continue;
    const wanted = method === 'HEAD' ? 'GET' : method;
    if (route.method === wanted) return { route, params };
    wrongMethod = true;
  }
  return wrongMethod ? 'method' : undefined;
}
