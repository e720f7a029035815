/**
 * The worker's (and admin CLI's) side of the websocket: dials the hub, verifies TLS unless told not to,
 * and drops the connection when the hub's pings stop arriving.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { ClaError, ErrorCode } from '../errors.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/version.ts';
import { FrameChannel, nextConnectionId } from './frame-channel.ts';
import { clientCertRefused, tlsConfigError, type ClientTlsFiles } from './tls-config.ts';
import type { FrameTap, Transport } from './transport.ts';
import { binaryFrame } from './ws-frame.ts';

/** TLS settings for `wss://` (the resoto-style `--ca-cert`, `--cert`, `--cert-key`, ...). */
export interface ClientTlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  /** Verify the hub's certificate. @default true */
  verify?: boolean;
  /** Where the above came from, so a TLS failure can name the file or option to fix. @default {} */
  files?: ClientTlsFiles;
}

/** Options for {@link connectWs}. */
export interface WsClientOptions {
  /** Largest frame in bytes. @default DEFAULT_MAX_FRAME_BYTES */
  maxFrameBytes?: number;
  /** Time allowed for the TCP + TLS + websocket handshake, in ms. @default 10000 */
  handshakeTimeoutMs?: number;
  /** Drop the connection when no ping arrived for this long, in ms; 0 turns the watchdog off. @default 45000 */
  silenceTimeoutMs?: number;
  tls?: ClientTlsOptions;
  tap?: FrameTap;
  /**
   * The hub id the server must announce in its upgrade answer (`X-Cla-Hub-Id`); another answer closes
   * the connection before any frame is sent, with HUB_MISMATCH.
   */
  expectHubId?: string;
  /**
   * Mask keys of the frames this client sends (RFC 6455 5.3). `auto`: an all-zero key, which ws sends
   * without copying and XOR-ing the payload (issue 13), when the hub is on a loopback address; a random
   * key otherwise. `random`: always a random key. See protocol.md, "Transport".
   * @default 'auto'
   */
  mask?: 'auto' | 'random';
}

/**
 * Frames up to this size to a loopback hub are copied into one buffer with their header (one socket
 * write); larger ones go through ws, whose two buffers spare the copy.
 */
const ONE_BUFFER_MAX_BYTES = 16 * 1024;

/** ws's `generateMask`: an all-zero key, which makes ws skip masking the payload (ws sender.js `skipMasking`). */
function zeroMask(mask: Buffer): void {
  mask[0] = mask[1] = mask[2] = mask[3] = 0;
}

/**
 * True when frames to `url` may go with an all-zero mask key: only to a loopback address. Masking (RFC
 * 6455 10.3) keeps whoever chooses the payload (a shipped or fetched file's bytes can come from anybody)
 * from choosing the bytes an intermediary sees on the wire, which could make a proxy that misreads the
 * stream as HTTP poison its cache. Nothing sits between two ends of a loopback connection; any other
 * connection keeps random keys, `wss://` too, since a TLS-inspecting proxy reads the stream in clear.
 */
export function zeroMaskAllowed(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Connects to `url`; rejects with `CONNECTION_FAILED` (retryable) when the hub cannot be reached, or with
 * `TLS_CONFIG` (not retryable) when the TLS handshake failed on a setting (see tls-config.ts).
 */
export function connectWs(url: string, options: WsClientOptions = {}): Promise<Transport> {
  const maxPayload = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const zeroMasked = (options.mask ?? 'auto') === 'auto' && zeroMaskAllowed(url);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload,
      ...(zeroMasked ? { generateMask: zeroMask } : {}),
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
      ca: options.tls?.ca,
      cert: options.tls?.cert,
      key: options.tls?.key,
      passphrase: options.tls?.passphrase,
      rejectUnauthorized: options.tls?.verify ?? true,
    });
    let settled = false;
    // The socket ws writes to, for corking the frames of one turn into one write.
    let raw: Duplex | undefined;
    ws.once('upgrade', (res) => (raw = res.socket));
    if (options.expectHubId !== undefined) {
      ws.once('upgrade', (res) => {
        const announced = res.headers['x-cla-hub-id'];
        if (announced === options.expectHubId) return;
        settled = true;
        ws.terminate();
        reject(
          new ClaError(
            ErrorCode.HubMismatch,
            `The server at ${url} is not the hub this CLI found recorded (hub id ${options.expectHubId}, it announced ${typeof announced === 'string' ? announced : 'none'}): the hub was restarted elsewhere or another program took its port. Nothing was sent. Start the hub again (\`cla-hub start\`), or pass --hub URL with the admin token of the hub you mean.`,
            { data: { url, expected: options.expectHubId, announced: typeof announced === 'string' ? announced : null } },
          ),
        );
      });
    }
    // A hub that requires client certificates answers a refused one with 403 and `X-Cla-Error: TLS_CONFIG`.
    ws.once('unexpected-response', (req, res) => {
      req.destroy();
      if (settled) return;
      settled = true;
      const reason = res.headers['x-cla-reason'];
      if (res.headers['x-cla-error'] === 'TLS_CONFIG' && typeof reason === 'string') return reject(clientCertRefused(url, reason, options.tls?.files));
      reject(new ClaError(ErrorCode.ConnectionFailed, `Cannot connect to the hub at ${url}: Unexpected server response: ${res.statusCode}`, { retryable: true, data: { url, status: res.statusCode ?? null } }));
    });
    ws.once('error', (error) => {
      if (settled) return;
      settled = true;
      const misconfigured = tlsConfigError(error, url, options.tls?.files);
      if (misconfigured) return reject(misconfigured);
      reject(new ClaError(ErrorCode.ConnectionFailed, `Cannot connect to the hub at ${url}: ${error.message}`, {
        cause: error,
        retryable: true,
        data: { url },
      }));
    });
    ws.once('open', () => {
      settled = true;
      let silenceMs = options.silenceTimeoutMs ?? 45_000;
      let watchdog: NodeJS.Timeout | undefined;
      // A message or ping only notes when it came; the timer, when it fires, re-arms itself for the
      // silence left or drops the connection. Re-arming a timer on every frame (`refresh()`, which
      // re-inserts it in the timer list) was ~2 % of a worker's CPU in a 1,000-worker broadcast (issue 9).
      let heardAt = performance.now();
      const heard = () => {
        heardAt = performance.now();
      };
      const check = () => {
        const quiet = performance.now() - heardAt;
        if (quiet >= silenceMs) ws.terminate();
        else watchdog = setTimeout(check, silenceMs - quiet).unref();
      };
      const arm = () => {
        heard();
        clearTimeout(watchdog);
        watchdog = silenceMs > 0 ? setTimeout(check, silenceMs).unref() : undefined;
      };
      const channel = new FrameChannel(
        {
          // A small frame to a loopback hub is framed here, header and payload in one buffer: with its
          // zero key ws writes them as two, and Node gathers them in a `writev` (issue 9: one answer
          // per worker in a broadcast). Safe beside ws's own writes for the reason ws-server.ts
          // `sendShared` gives; once ws is closing, its `send` reports the error as for any frame.
          send: (bytes, done) => {
            if (zeroMasked && raw && bytes.length <= ONE_BUFFER_MAX_BYTES && ws.readyState === WebSocket.OPEN) raw.write(binaryFrame(bytes, true), done);
            else ws.send(bytes, { binary: true }, done);
          },
          cork: () => raw?.cork(),
          uncork: () => raw?.uncork(),
          close: (code, reason) => ws.close(code, reason),
          terminate: () => ws.terminate(),
          bufferedAmount: () => ws.bufferedAmount,
          pause: () => ws.pause(),
          resume: () => ws.resume(),
          setSilenceTimeout: (ms) => {
            silenceMs = ms;
            arm();
          },
        },
        { id: nextConnectionId('h'), remote: url, maxFrameBytes: maxPayload, tap: options.tap },
      );
      arm();
      ws.on('ping', heard);
      ws.on('message', (data) => {
        heardAt = performance.now();
        channel.receive(Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data);
      });
      ws.on('close', (code, reason) => {
        clearTimeout(watchdog);
        channel.closedBy(code, reason.toString());
      });
      ws.on('error', () => undefined);
      resolve(channel);
    });
  });
}
