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
  // Server-wide handlers and no closures per connection (issue 9, idle heap): a record per socket in its
  // request head, then only its address.
  const tracked = new WeakMap<Socket, Tracked | string>();
  // By `address:port`: over TLS the request's socket is a TLSSocket wrapping the raw one seen here.
  const inHead = new Map<string, Tracked>();
  const headDone = (t: Tracked) => {
    if (t.timer === undefined) return;
    clearTimeout(t.timer);
    t.timer = undefined;
    inHead.delete(t.key);
    add(pending, t.address, -1);
    if (tracked.get(t.socket) === t) tracked.set(t.socket, t.address);
  };
  function onClose(this: Socket): void {
    const t = tracked.get(this);
    if (t === undefined) return;
    tracked.delete(this);
    if (typeof t === 'string') {
      add(open, t, -1);
      return;
    }
    headDone(t);
    add(open, t.address, -1);
  }
  // Node's own check, for later requests on a kept-alive connection.
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = Math.max(server.requestTimeout, limits.headersTimeoutMs + 1);
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '?';
    const total = add(open, address, 1);
    const waiting = add(pending, address, 1);
    const timer = setTimeout(destroySocket, limits.headersTimeoutMs, socket);
    timer.unref();
    const t: Tracked = { socket, address, key: `${address}:${socket.remotePort}`, timer };
    tracked.set(socket, t);
    inHead.set(t.key, t);
    // `on`, not `once` (a wrapper and a bound function per socket): 'close' comes once, and onClose forgets the socket.
    socket.on('close', onClose);
    if (total > limits.maxConnectionsPerAddress || waiting > limits.maxPendingPerAddress) socket.destroy();
  });
  const headArrived = (req: http.IncomingMessage) => {
    const t = inHead.get(`${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort}`);
    if (t) headDone(t);
  };
  server.on('request', headArrived);
  server.on('upgrade', headArrived);
}

/** One raw connection while it is open. */
interface Tracked {
  socket: Socket;
  address: string;
  key: string;
  /** Set while the request head is awaited. */
  timer: NodeJS.Timeout | undefined;
}

function add(map: Map<string, number>, key: string, by: number): number {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
  return next;
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}
