/**
 * `GET /api/events`: Server-Sent Events for the dashboard's live view. Each stream gets an event
 * `workers` with the full worker list at once, then again whenever `Hub.changes$` fires, at most
 * {@link MAX_EVENTS_PER_SECOND} times a second (the first change goes out at once, later ones are folded
 * into one trailing event carrying the latest list), and a `: keepalive` comment every 15 s so proxies
 * and browsers keep the connection. Timers use the hub's clock.
 */
import type { ServerResponse } from 'node:http';
import type { Subscription } from 'rxjs';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { AdminHttpDeps } from './admin-http.ts';

/** Most `workers` events per second on one stream. */
export const MAX_EVENTS_PER_SECOND = 5;
/** Interval of the keepalive comment, in ms. */
export const KEEPALIVE_MS = 15_000;

/** Streams events to one client until it goes away; returns the function that ends the stream. */
export function streamEvents(res: ServerResponse, hub: Pick<AdminHttpDeps, 'changes$' | 'listWorkers'>, project: string | undefined, clock: Clock, log: Logger): () => void {
  const minGap = 1000 / MAX_EVENTS_PER_SECOND;
  let lastSent = Number.NEGATIVE_INFINITY;
  let pending: unknown;
  let keepalive: unknown;
  let ended = false;

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-content-type-options': 'nosniff',
  });

  const sendWorkers = async () => {
    pending = undefined;
    lastSent = clock.now();
    try {
      const workers = await hub.listWorkers(project);
      if (ended) return;
      res.write(`event: workers\ndata: ${JSON.stringify(workers)}\n\n`);
    } catch (error) {
      // A project deleted meanwhile, or the store closing: tell the client, keep the hub running.
      log.warn({ err: error }, 'could not send the worker list to an event stream');
      if (ended) return;
      res.write(`event: error\ndata: ${JSON.stringify({ message: error instanceof Error ? error.message : String(error) })}\n\n`);
    }
  };
  const onChange = () => {
    if (ended || pending !== undefined) return;
    const wait = lastSent + minGap - clock.now();
    if (wait <= 0) void sendWorkers();
    else pending = clock.setTimeout(() => void sendWorkers(), wait);
  };
  const armKeepalive = () => {
    keepalive = clock.setTimeout(() => {
      res.write(': keepalive\n\n');
      armKeepalive();
    }, KEEPALIVE_MS);
  };

  let subscription: Subscription | undefined;
  const end = () => {
    if (ended) return;
    ended = true;
    subscription?.unsubscribe();
    if (pending !== undefined) clock.clearTimeout(pending);
    clock.clearTimeout(keepalive);
    res.end();
  };
  subscription = hub.changes$.subscribe({ next: onChange, complete: end });
  res.on('close', end);
  if (ended) return end;
  res.write('retry: 3000\n\n');
  void sendWorkers();
  armKeepalive();
  return end;
}
