/**
 * Who may use the admin HTTP API: a client sending `Authorization: Bearer <admin token>` (the CLI), or a
 * browser holding a session cookie from `POST /api/login`. The token is checked by the registry, which
 * compares sha256 hashes in constant time; it is never accepted in a URL. Browser sessions are random
 * 256-bit ids kept in memory (as their sha256, so a heap dump does not hand them out) until they expire
 * or the hub restarts; the cookie is HttpOnly and SameSite=Strict.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../clock.ts';
import type { Registry } from './registry.ts';

/** Name of the browser session cookie. */
export const SESSION_COOKIE = 'cla_hub_session';

/** Browser sessions kept at once; logging in past this drops the oldest. */
const MAX_SESSIONS = 1000;

/** How a request authenticated. */
export type AdminAuthKind = 'bearer' | 'cookie';

const hash = (id: string) => createHash('sha256').update(id, 'utf8').digest('hex');

/** Parses a `Cookie` header into name -> value (first occurrence wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name && !out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** The bearer token of a request, if it sent one. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/** Admin authentication: the token and browser sessions. */
export class AdminAuth {
  /** sha256(session id) -> expiry, ms since the epoch; a Map keeps login order for eviction. */
  private readonly sessions = new Map<string, number>();

  constructor(
    private readonly registry: Registry,
    private readonly clock: Clock,
    private readonly sessionTtlMs: number,
  ) {}

  /** How the request authenticated, or `undefined` if it did not. */
  async check(req: IncomingMessage): Promise<AdminAuthKind | undefined> {
    const token = bearerToken(req);
    if (token !== undefined) return (await this.registry.checkAdminToken(token)) ? 'bearer' : undefined;
    return this.sessionExpiry(req) === undefined ? undefined : 'cookie';
  }

  /** Expiry of the request's browser session, if it has a live one. */
  sessionExpiry(req: IncomingMessage): number | undefined {
    const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (!id) return undefined;
    const key = hash(id);
    const expires = this.sessions.get(key);
    if (expires === undefined) return undefined;
    if (expires <= this.clock.now()) {
      this.sessions.delete(key);
      return undefined;
    }
    return expires;
  }

  /** Checks the token and opens a browser session; `undefined` for a wrong token. */
  async login(token: unknown): Promise<{ cookie: string; expiresAt: number } | undefined> {
    if (typeof token !== 'string' || !(await this.registry.checkAdminToken(token))) return undefined;
    this.sweep();
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('hex');
    const expiresAt = this.clock.now() + this.sessionTtlMs;
    this.sessions.set(hash(id), expiresAt);
    const maxAge = Math.floor(this.sessionTtlMs / 1000);
    return { cookie: `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`, expiresAt };
  }

  /** Ends the request's browser session (if any); returns the cookie that clears it in the browser. */
  logout(req: IncomingMessage): string {
    const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (id) this.sessions.delete(hash(id));
    return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }

  /** Live browser sessions (tests, diagnostics). */
  sessionCount(): number {
    this.sweep();
    return this.sessions.size;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [key, expires] of this.sessions) if (expires <= now) this.sessions.delete(key);
  }
}
