/**
 * Limits on raw connections before they become websockets (issue 11, case 4): a connection that has not
 * sent its whole HTTP request head within `headersTimeoutMs` is destroyed, and one IP address may hold
 * only so many connections (all of them, and those still in their request head). Node's `headersTimeout`
 * alone let 300 half-sent upgrade requests stay open 95 s, since it is checked every 30 s.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import { InvalidArgumentError, describeValue } from '../errors.ts';

/** Limits of {@link guardConnections}. */
export interface ConnectionLimits {
  /** Time to complete the request head, in ms. */
  headersTimeoutMs: number;
  /** Open connections per IP address. */
  maxConnectionsPerAddress: number;
  /** Connections per IP address still in their request head. */
  maxPendingPerAddress: number;
}

/** Installs the limits on `server` (http or https); counts are per server. */
export function guardConnections(server: http.Server, limits: ConnectionLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) throw new InvalidArgumentError(`Expected \`${name}\` to be a positive integer, got ${describeValue(value)}`);
  }
  const open = new Map<string, number>();
  const pending = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, by: number) => {
    const next = (map.get(key) ?? 0) + by;
    if (next <= 0) map.delete(key);
    else map.set(key, next);
    return next;
  };
  // Node's own check, for later requests on a kept-alive connection.
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = Math.max(server.requestTimeout, limits.headersTimeoutMs + 1);
  // By `address:port`: over TLS the request's socket is a TLSSocket wrapping the raw one seen here.
  const headDone = new Map<string, () => void>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '?';
    const key = `${address}:${socket.remotePort}`;
    const total = add(open, address, 1);
    const waiting = add(pending, address, 1);
    let inHead = true;
    const timer = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    timer.unref();
    const done = () => {
      if (!inHead) return;
      inHead = false;
      clearTimeout(timer);
      headDone.delete(key);
      add(pending, address, -1);
    };
    headDone.set(key, done);
    socket.once('close', () => {
      done();
      add(open, address, -1);
    });
    if (total > limits.maxConnectionsPerAddress || waiting > limits.maxPendingPerAddress) socket.destroy();
  });
  const headArrived = (req: http.IncomingMessage) => headDone.get(`${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort}`)?.();
  server.on('request', headArrived);
  server.on('upgrade', headArrived);
}
