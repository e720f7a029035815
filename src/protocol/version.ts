/** The protocol version carried in every frame's `v` field. Bumped on any incompatible change. */
export const PROTOCOL_VERSION = 3;

/** Largest frame, in bytes, that either side accepts by default (ws `maxPayload`). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Largest data chunk, in bytes, put in one `output` frame. */
export const MAX_CHUNK_BYTES = 64 * 1024;

/**
 * Exec output the hub lets a worker send ahead of what its consumer took, in bytes (protocol.md "Output
 * flow control"): it bounds what the hub holds per running exec.
 */
export const OUTPUT_WINDOW_BYTES = 1024 * 1024;

/** Application close codes (4000-4999); see protocol.md, "Close codes". */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  PolicyViolation: 1008,
  TooLarge: 1009,
  AuthFailed: 4001,
  ProtocolVersion: 4002,
  UnknownEnv: 4003,
  HelloTimeout: 4004,
  Shutdown: 4005,
  Replaced: 4006,
  Unregistered: 4007,
  HeartbeatTimeout: 4008,
  /** The hub's send queue for this peer stayed over its bound (the peer does not read); see send-gate.ts. */
  SendOverflow: 4009,
} as const;

/** A close code from {@link CloseCode}. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which a worker must not reconnect on its own. */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.AuthFailed,
  CloseCode.ProtocolVersion,
  CloseCode.UnknownEnv,
  CloseCode.Shutdown,
  CloseCode.Unregistered,
  CloseCode.Replaced,
]);
