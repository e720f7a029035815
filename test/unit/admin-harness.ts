/**
 * A real hub for the admin API tests: a SQLite file in a temp dir, the worker websocket and the admin
 * listener on 127.0.0.1 port 0, and real `WorkerAgent`s dialing in. Requests go through node:http so a
 * test controls every header (Host, Origin, Cookie).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { systemClock } from '../../src/clock.ts';
import type { AdminHttpOptions } from '../../src/hub/admin-http.ts';
import { Hub } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';
import { WorkerAgent, type AgentExit } from '../../src/worker/agent.ts';

export interface AdminHarness {
  dir: string;
  store: SqliteStore;
  registry: Registry;
  hub: Hub;
  /** The admin token in plaintext. */
  token: string;
  /** `http://127.0.0.1:PORT` */
  adminUrl: string;
  workers: Array<{ id: string; agent: WorkerAgent; exit: Promise<AgentExit> }>;
  close(): Promise<void>;
}

/** Starts a hub with its admin listener (dashboard folder: `<dir>/dashboard`, absent until a test makes it). */
export async function startAdminHarness(admin: AdminHttpOptions = {}): Promise<AdminHarness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-admin-'));
  const store = openSqliteStore(path.join(dir, 'hub.sqlite'));
  const registry = new Registry(store, systemClock);
  const token = (await registry.ensureAdminToken()).token!;
  const hub = new Hub({ host: '127.0.0.1', port: 0 }, { registry, metrics: new HubMetrics({ processMetrics: false }) });
  await hub.start();
  // The dashboard folder is the test's own, so a dashboard built in src/hub/dashboard changes nothing here.
  const adminUrl = await hub.startAdmin({ port: 0, dashboardDir: path.join(dir, 'dashboard'), ...admin });
  const harness: AdminHarness = {
    dir,
    store,
    registry,
    hub,
    token,
    adminUrl,
    workers: [],
    close: async () => {
      for (const { agent } of harness.workers) agent.stop('test over');
      await Promise.all(harness.workers.map((w) => w.exit));
      await hub.stop();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** Registers worker `id` in each project (adding projects with its token) and connects it. */
export async function connectWorker(h: AdminHarness, id: string, projects: string[], tags: string[] = []): Promise<{ id: string; agent: WorkerAgent; exit: Promise<AgentExit> }> {
  let token: string | undefined;
  for (const project of projects) {
    if (!(await h.registry.listProjects()).some((p) => p.name === project)) h.registry.createProject(project);
    const passkey = (await h.registry.passkey(project))!;
    token = (await h.registry.register({ passkey, id, token })).token;
  }
  const connected = firstValueFrom(h.hub.changes$.pipe(filter((c) => c.type === 'connected' && c.worker === id)));
  const agent = new WorkerAgent({ id, token: token!, url: h.hub.url(), tags, graceMs: 1000 });
  const worker = { id, agent, exit: agent.run() };
  h.workers.push(worker);
  await connected;
  return worker;
}

/** An HTTP answer. */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/** Sends one request to the admin listener. `body` is sent as JSON unless a content-type is given. */
export function request(
  h: AdminHarness,
  method: string,
  pathname: string,
  options: { headers?: Record<string, string>; body?: unknown; bearer?: string } = {},
): Promise<Answer> {
  const { hostname, port } = new URL(h.adminUrl);
  const headers: Record<string, string> = { ...(options.bearer ? { authorization: `Bearer ${options.bearer}` } : {}), ...options.headers };
  let payload: string | undefined;
  if (options.body !== undefined) {
    payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  return new Promise((resolve, reject) => {
    // `path` goes out as written (no URL normalisation), so traversal attempts reach the server intact.
    const req = http.request({ host: hostname, port, path: pathname, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** An open Server-Sent Events stream: the events received so far, and a way to wait for one. */
export interface EventStream {
  events: Array<{ event: string; data: string }>;
  comments: string[];
  next(predicate: (event: { event: string; data: string }) => boolean): Promise<{ event: string; data: string }>;
  close(): void;
}

/** Opens `GET /api/events` with the admin token. */
export function openEvents(h: AdminHarness, query = ''): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(`/api/events${query}`, h.adminUrl), { headers: { authorization: `Bearer ${h.token}` } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`events answered ${res.statusCode}`));
        return;
      }
      const stream: EventStream = {
        events: [],
        comments: [],
        next: (predicate) =>
          new Promise((done) => {
            const check = () => {
              const found = stream.events.find(predicate);
              if (found) {
                res.off('data', check);
                done(found);
              }
            };
            res.on('data', check);
            check();
          }),
        close: () => req.destroy(),
      };
      let buffer = '';
      res.setEncoding('utf8');
      res.prependListener('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = block.split('\n');
          const event = fields.find((f) => f.startsWith('event: '))?.slice(7);
          const data = fields.find((f) => f.startsWith('data: '))?.slice(6);
          if (event !== undefined && data !== undefined) stream.events.push({ event, data });
          for (const f of fields) if (f.startsWith(':')) stream.comments.push(f);
        }
      });
      resolve(stream);
    });
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
    req.end();
  });
}
