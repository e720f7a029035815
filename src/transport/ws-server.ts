/**
 * The hub's websocket listener: an http(s) server with a `noServer` ws server, no permessage-deflate,
 * bounded frames, and ws-level ping/pong heartbeats. Authentication happens in the first frame
 * (`hello`, `register`, `admin_hello`), so tokens never travel in the URL.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/version.ts';
import { guardConnections } from './connection-guard.ts';
import { EncodePool } from './encode-pool.ts';
import { FrameChannel, closeReason, nextConnectionId, type ByteSocket } from './frame-channel.ts';
import { SendBudget } from './send-gate.ts';
import type { FrameTap, Transport } from './transport.ts';
import { binaryFrame } from './ws-frame.ts';

/** The header of the upgrade answer (and of admin HTTP answers) that names the hub. */
export const HUB_ID_HEADER = 'X-Cla-Hub-Id';

/** TLS settings for a `wss://` listener. */
export interface ServerTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA bundle for client certificates; when set, clients must present a certificate it signed. */
  clientCa?: string | Buffer;
  passphrase?: string;
}

/** Options for {@link startWsServer}. */
/** The listener's limits against slow and hostile peers (issue 11), shared with `HubOptions`. */
export type ListenerLimitOptions = Pick<WsServerOptions, 'headersTimeoutMs' | 'maxConnectionsPerAddress' | 'maxPendingPerAddress' | 'maxQueuedBytes' | 'sendStallMs' | 'maxTotalQueuedBytes'>;

export interface WsServerOptions {
  /** Interface to bind. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 8733 */
  port?: number;
  /** Largest frame in bytes. @default DEFAULT_MAX_FRAME_BYTES */
  maxFrameBytes?: number;
  /** Interval between pings, in ms; a connection that missed one pong is dropped. @default 15000 */
  heartbeatMs?: number;
  tls?: ServerTlsOptions;
  tap?: FrameTap;
  /** Sent as `X-Cla-Hub-Id` in the upgrade answer, so a client checks the hub before authenticating. */
  hubId?: string;
  /**
   * Time a new TCP connection has to complete its HTTP request head (TLS handshake included), in ms;
   * then it is destroyed. Node's own `headersTimeout` is only checked every 30 s (issue 11, case 4).
   * @default 10000
   */
  headersTimeoutMs?: number;
  /** Open connections from one IP address, upgraded or not; one more is destroyed at once. @default 10000 */
  maxConnectionsPerAddress?: number;
  /** Connections from one IP address still sending their HTTP request head; one more is destroyed at once. @default 128 */
  maxPendingPerAddress?: number;
  /** Bytes queued for one peer above which the hub stops reading from it (see send-gate.ts). @default 16 MiB */
  maxQueuedBytes?: number;
  /** Time a peer's queue may stay above `maxQueuedBytes` before the connection is closed with 4009, in ms. @default 10000 */
  sendStallMs?: number;
  /** Bytes queued for all peers together; above it the peer holding the most is closed with 4009. @default 256 MiB */
  maxTotalQueuedBytes?: number;
  /**
   * Time a client has to send a whole request, in ms; 0 turns it off (long uploads of the legacy pubsub).
   * @default Node's 300000
   */
  requestTimeoutMs?: number;
  /** Extra HTTP handler for non-upgrade requests (the admin API, metrics). @default 404 */
  onRequest?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Called for every new connection. */
  onConnection: (transport: Transport) => void;
}

/** A running listener. */
export interface WsServer {
  /** `ws://host:port` or `wss://host:port` with the real port. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, closes every connection with `code`, and resolves when the server is closed. */
  close(code?: number, reason?: string): Promise<void>;
}

/**
 * Why a client of a listener that requires client certificates is refused, or undefined when its
 * certificate is signed by the `clientCa`. ASCII only: it goes into a header.
 */
function clientCertRefusal(req: http.IncomingMessage): string | undefined {
  const socket = req.socket as TLSSocket;
  if (socket.authorized) return undefined;
  const presented = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
  if (!presented) return 'client certificate required';
  return `client certificate not trusted (${String(socket.authorizationError ?? 'unknown').replace(/[^\x20-\x7e]/g, '?')})`;
}

/** Starts listening; resolves once the port is bound. */
export async function startWsServer(options: WsServerOptions): Promise<WsServer> {
  const maxPayload = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const handler = options.onRequest ?? ((_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('cla-hub: connect with a websocket\n');
  });
  const server = options.tls
    ? https.createServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          passphrase: options.tls.passphrase,
          ca: options.tls.clientCa,
          requestCert: options.tls.clientCa !== undefined,
          // Checked per request below instead of in the handshake: Node drops an unauthorised TLS 1.3 client
          // without an alert, so the worker could only see "socket hang up" and retry forever. A 403 with
          // TLS_CONFIG tells it which setting to fix (issue 11).
          rejectUnauthorized: false,
        },
        (req, res) => {
          const refusal = clientCertRefusal(req);
          if (refusal === undefined) return handler(req, res);
          res.writeHead(403, { 'content-type': 'text/plain', 'x-cla-error': 'TLS_CONFIG', 'x-cla-reason': refusal, connection: 'close' }).end(`cla-hub: ${refusal}\n`);
        },
      )
    : http.createServer(handler);
  guardConnections(server, {
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? 10_000,
    maxPendingPerAddress: options.maxPendingPerAddress ?? 128,
  });
  // After the guard, which raises requestTimeout above the headers timeout: an explicit value wins.
  if (options.requestTimeoutMs !== undefined) server.requestTimeout = options.requestTimeoutMs;
  const budget = new SendBudget(options.maxTotalQueuedBytes ?? 256 * 1024 * 1024);
  const sendLimits = { maxQueuedBytes: options.maxQueuedBytes, stallMs: options.sendStallMs, budget };
  // One set of chunk encode buffers for every connection of the listener (a relaying hub, issue 13).
  const encodePool = new EncodePool();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload, clientTracking: true });
  if (options.hubId !== undefined) {
    const header = `${HUB_ID_HEADER}: ${options.hubId}`;
    wss.on('headers', (headers) => headers.push(header));
  }

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', destroyOnError);
    const refusal = options.tls?.clientCa === undefined ? undefined : clientCertRefusal(req);
    if (refusal !== undefined) {
      socket.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nX-Cla-Error: TLS_CONFIG\r\nX-Cla-Reason: ${refusal}\r\nContent-Length: ${refusal.length + 10}\r\n\r\ncla-hub: ${refusal}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
      // `socket` is the one ws writes to (handleUpgrade adopts it), corked per turn by the channel.
      const peer = new ServerSocket(ws, socket);
      peer.channel = new FrameChannel(peer, { id: nextConnectionId('c'), remote, maxFrameBytes: maxPayload, tap: options.tap, sendLimits, encodePool });
      peers.set(ws, peer);
      // Shared listeners (`this` is the ws): no closures per connection (issue 9, idle heap).
      ws.on('pong', onPong);
      ws.on('message', onMessage);
      ws.on('close', onClose);
      ws.on('error', ignoreError); // 'close' follows every error
      options.onConnection(peer.channel);
    });
  });

  // One timer for every connection's heartbeat: a connection that missed one pong is dropped.
  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      const peer = peers.get(ws);
      if (peer && !peer.alive) {
        ws.terminate();
        continue;
      }
      if (peer) peer.alive = false;
      ws.ping();
    }
  }, heartbeatMs);
  pinger.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8733, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${options.tls ? 'wss' : 'ws'}://${host}:${address.port}`;

  return {
    url,
    port: address.port,
    close(code = 1001, reason = 'hub stopping') {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.close(code, closeReason(reason));
      return new Promise((resolve) => {
        const force = setTimeout(() => {
          for (const ws of wss.clients) ws.terminate();
          server.closeAllConnections?.();
        }, 2000);
        force.unref();
        wss.close(() => server.close(() => {
          clearTimeout(force);
          resolve();
        }));
      });
    },
  };
}

/** The {@link ByteSocket} of one accepted connection: methods on the prototype, no closures. */
class ServerSocket implements ByteSocket {
  channel!: FrameChannel;
  /** A pong (or the connection itself) arrived since the last ping. */
  alive = true;

  constructor(
    private readonly ws: WebSocket,
    private readonly raw: Duplex,
  ) {}

  send(bytes: Uint8Array, done: (error?: Error) => void): void {
    this.ws.send(bytes, { binary: true }, done);
  }
  /**
   * The websocket frame of `bytes` is made once for every connection that sends the same bytes (a
   * broadcast) and written to the socket in one call: ws's `send` would build a header and write twice
   * per connection. Safe beside ws's own writes: this server never compresses nor sends blobs, so ws
   * writes each frame to the socket in the call that sends it, and the order of frames holds. Once ws
   * started closing, its `send` reports the error as for any frame.
   */
  sendShared(bytes: Uint8Array, done: (error?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return this.send(bytes, done);
    this.raw.write(serverFrame(bytes), done);
  }
  cork(): void {
    this.raw.cork();
  }
  uncork(): void {
    this.raw.uncork();
  }
  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
  terminate(): void {
    this.ws.terminate();
  }
  bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
  pause(): void {
    this.ws.pause();
  }
  resume(): void {
    this.ws.resume();
  }
}

/** The websocket frames of shared bytes (see `ServerSocket.sendShared`), made once per bytes object. */
const framed = new WeakMap<Uint8Array, Buffer>();

/** `bytes` as one unmasked, final, binary websocket frame (RFC 6455 5.2), made once for the same bytes. */
export function serverFrame(bytes: Uint8Array): Buffer {
  let frame = framed.get(bytes);
  if (frame) return frame;
  frame = binaryFrame(bytes, false);
  framed.set(bytes, frame);
  return frame;
}

/** Every accepted connection, by its ws (the shared listeners below find theirs here). */
const peers = new WeakMap<WebSocket, ServerSocket>();

function onPong(this: WebSocket): void {
  const peer = peers.get(this);
  if (peer) peer.alive = true;
}

function onMessage(this: WebSocket, data: unknown, isBinary: boolean): void {
  peers.get(this)?.channel.receive(toBytes(data, isBinary));
}

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  peers.get(this)?.channel.closedBy(code, reason.toString());
}

function ignoreError(): void {
  // 'close' follows every error of a ws.
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

function toBytes(data: unknown, isBinary: boolean): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (!isBinary && Buffer.isBuffer(data)) return data; // a text frame: decoding will reject it clearly
  return data as Buffer;
}
