/**
 * The hub's listener options: defaults and checks in one place (`parseHubOptions`), so `new Hub({ port:
 * 70000 })` is refused up front with the option's name instead of failing later inside Node.
 */
import { checkInteger, checkObject, checkString, invalidOption } from '../option-checks.ts';
import type { ListenerLimitOptions, ServerTlsOptions } from '../transport/ws-server.ts';
import type { LegacyPubsubOptions } from './legacy/legacy-options.ts';
import { DEFAULT_STORED_OUTPUT_BYTES } from './output-tail.ts';

/** The port `cla-hub start` listens on. */
export const DEFAULT_HUB_PORT = 8733;

/**
 * Options for {@link Hub} and {@link createHub}'s listener; the limits against slow and hostile peers are the ws server's ({@link ListenerLimitOptions}, each an integer >= 1).
 */
export interface HubOptions extends ListenerLimitOptions {
  /** Interface to bind; `0.0.0.0` for remote workers. @default '127.0.0.1' */
  host?: string;
  /** Port, 0-65535; 0 picks a free one. @default 8733 */
  port?: number;
  /** Ping interval in ms (>= 10); a connection that missed a pong is dropped. @default 15000 */
  heartbeatMs?: number;
  /** Time a new connection has to send its first frame, in ms (>= 10). @default 10000 */
  helloTimeoutMs?: number;
  /** Default wait for a busy worker, in ms (>= 0). @default 60000 */
  waitMs?: number;
  /** Serve `wss://` with this certificate and key (both or neither); `clientCa` requires client certificates. */
  tls?: ServerTlsOptions;
  /** Hub-wide pre-shared key workers may present instead of a registration (`--psk`). @default undefined */
  psk?: string;
  /** Output bytes kept per job in the store (the tail; the live stream is never cut), >= 0. @default 65536 */
  storedOutputBytes?: number;
  /**
   * Serve the Clarive legacy HTTP + SSE pubsub routes on the worker port, so existing Clarive workers
   * connect unchanged (issue 14; protocol.md, "Legacy pubsub"). Use it only behind TLS: those workers put
   * their token in the URL. @default false
   */
  legacyPubsub?: boolean | LegacyPubsubOptions;
  /**
   * The hub's id, sent in the `X-Cla-Hub-Id` header of every websocket upgrade and admin HTTP answer, so a
   * CLI checks it is talking to the hub it recorded before sending the admin token. @default the id kept
   * in the store (`hub.id`), made on first start
   */
  hubId?: string;
}

/** {@link HubOptions} with defaults filled in. */
export type ParsedHubOptions = Required<Omit<HubOptions, 'tls' | 'psk' | 'legacyPubsub' | 'hubId'>> & Pick<HubOptions, 'tls' | 'psk' | 'hubId'> & { legacyPubsub: false | LegacyPubsubOptions | true };

/** Fills defaults and checks types and ranges. @throws InvalidArgumentError naming the option */
export function parseHubOptions(options: HubOptions = {}): ParsedHubOptions {
  const input = checkObject('options', options) as HubOptions;
  const host = checkString('host', input.host) ?? '127.0.0.1';
  const port = checkInteger('port', input.port, DEFAULT_HUB_PORT, 0, 65535);
  const heartbeatMs = checkInteger('heartbeatMs', input.heartbeatMs, 15_000, 10);
  const helloTimeoutMs = checkInteger('helloTimeoutMs', input.helloTimeoutMs, 10_000, 10);
  const waitMs = checkInteger('waitMs', input.waitMs, 60_000, 0);
  const storedOutputBytes = checkInteger('storedOutputBytes', input.storedOutputBytes, DEFAULT_STORED_OUTPUT_BYTES, 0);
  const headersTimeoutMs = checkInteger('headersTimeoutMs', input.headersTimeoutMs, 10_000, 1);
  const maxConnectionsPerAddress = checkInteger('maxConnectionsPerAddress', input.maxConnectionsPerAddress, 10_000, 1);
  const maxPendingPerAddress = checkInteger('maxPendingPerAddress', input.maxPendingPerAddress, 128, 1);
  const maxQueuedBytes = checkInteger('maxQueuedBytes', input.maxQueuedBytes, 16 * 1024 * 1024, 1);
  const sendStallMs = checkInteger('sendStallMs', input.sendStallMs, 10_000, 1);
  const maxTotalQueuedBytes = checkInteger('maxTotalQueuedBytes', input.maxTotalQueuedBytes, 256 * 1024 * 1024, 1);
  const psk = checkString('psk', input.psk);
  let tls: ServerTlsOptions | undefined;
  if (input.tls !== undefined) {
    tls = checkObject('tls', input.tls) as unknown as ServerTlsOptions;
    const isPem = (value: unknown) => typeof value === 'string' || Buffer.isBuffer(value);
    if (!isPem(tls.cert)) throw invalidOption('tls.cert', 'a PEM string or Buffer (pass both `tls.cert` and `tls.key`)', tls.cert);
    if (!isPem(tls.key)) throw invalidOption('tls.key', 'a PEM string or Buffer (pass both `tls.cert` and `tls.key`)', tls.key);
    if (tls.clientCa !== undefined && !isPem(tls.clientCa)) throw invalidOption('tls.clientCa', 'a PEM string or Buffer', tls.clientCa);
  }
  const legacyPubsub = input.legacyPubsub === undefined || input.legacyPubsub === false ? false : typeof input.legacyPubsub === 'boolean' ? true : (checkObject('legacyPubsub', input.legacyPubsub) as LegacyPubsubOptions);
  const hubId = input.hubId === undefined ? undefined : checkString('hubId', input.hubId);
  return { host, port, heartbeatMs, helloTimeoutMs, waitMs, storedOutputBytes, headersTimeoutMs, maxConnectionsPerAddress, maxPendingPerAddress, maxQueuedBytes, sendStallMs, maxTotalQueuedBytes, psk, tls, legacyPubsub, ...(hubId === undefined ? {} : { hubId }) };
}
