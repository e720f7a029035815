/**
 * One error model for the whole project (see ../shared/STYLE.md): every error carries a string `code`
 * that callers branch on, whether it may be retried, optional plain `data`, and the `cause` it wraps.
 * Wire errors are serialised with {@link toWireError} and rebuilt with {@link fromWireError}.
 */

/** Error codes used on the wire and in the CLI. Every code is listed in protocol.md. */
export const ErrorCode = {
  BadFrame: 'BAD_FRAME',
  FrameTooLarge: 'FRAME_TOO_LARGE',
  ProtocolVersion: 'PROTOCOL_VERSION',
  HelloRequired: 'HELLO_REQUIRED',
  HelloTimeout: 'HELLO_TIMEOUT',
  BadPasskey: 'BAD_PASSKEY',
  BadToken: 'BAD_TOKEN',
  BadAdminToken: 'BAD_ADMIN_TOKEN',
  DuplicateWorker: 'DUPLICATE_WORKER',
  UnknownWorker: 'UNKNOWN_WORKER',
  UnknownEnv: 'UNKNOWN_ENV',
  UnknownProject: 'UNKNOWN_PROJECT',
  ProjectExists: 'PROJECT_EXISTS',
  NoWorker: 'NO_WORKER',
  WorkerBusy: 'WORKER_BUSY',
  WorkerDisabled: 'WORKER_DISABLED',
  WorkerLost: 'WORKER_LOST',
  Timeout: 'TIMEOUT',
  Cancelled: 'CANCELLED',
  SpawnFailed: 'SPAWN_FAILED',
  Unsupported: 'UNSUPPORTED',
  PolicyDenied: 'POLICY_DENIED',
  PathNotAllowed: 'PATH_NOT_ALLOWED',
  FileNotFound: 'FILE_NOT_FOUND',
  ChecksumMismatch: 'CHECKSUM_MISMATCH',
  FlowControl: 'FLOW_CONTROL',
  IoError: 'IO_ERROR',
  EvalError: 'EVAL_ERROR',
  StaleLease: 'STALE_LEASE',
  UnknownTask: 'UNKNOWN_TASK',
  UnknownWorkflow: 'UNKNOWN_WORKFLOW',
  RunNotOwned: 'RUN_NOT_OWNED',
  Aborted: 'ABORTED',
  UnknownMethod: 'UNKNOWN_METHOD',
  HubMismatch: 'HUB_MISMATCH',
  InvalidArgument: 'INVALID_ARGUMENT',
  ConfigMissing: 'CONFIG_MISSING',
  ConnectionFailed: 'CONNECTION_FAILED',
  TlsConfig: 'TLS_CONFIG',
  Internal: 'INTERNAL',
} as const;

/** A known error code. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options accepted by {@link ClaError}. */
export interface ClaErrorOptions {
  /** Whether the same request may succeed if tried again later. @default false */
  retryable?: boolean;
  /** Plain, serialisable details (names, limits, ids). */
  data?: Record<string, unknown>;
  /** The underlying error. */
  cause?: unknown;
}

/** The base error: a message for people, a `code` for programs. */
export class ClaError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ClaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClaError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.data = options.data;
  }
}

/** Thrown when an option, flag or argument has the wrong type, range or combination. */
export class InvalidArgumentError extends ClaError {
  constructor(message: string, options: ClaErrorOptions = {}) {
    super(ErrorCode.InvalidArgument, message, options);
    this.name = 'InvalidArgumentError';
  }
}

/** Thrown when a frame cannot be decoded or does not match its schema. */
export class FrameError extends ClaError {
  constructor(message: string, options: ClaErrorOptions = {}) {
    super(ErrorCode.BadFrame, message, options);
    this.name = 'FrameError';
  }
}

/** The shape of an error on the wire (see protocol.md, frame `error`). */
export interface WireError {
  code: string;
  message: string;
  retryable: boolean;
  data?: Record<string, unknown>;
}

/** Serialises any thrown value into a {@link WireError}; unknown errors become `INTERNAL`. */
export function toWireError(error: unknown): WireError {
  if (error instanceof ClaError) {
    const wire: WireError = { code: error.code, message: error.message, retryable: error.retryable };
    if (error.data !== undefined) wire.data = error.data;
    return wire;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: ErrorCode.Internal, message, retryable: false };
}

/** Rebuilds a {@link ClaError} from its wire form. */
export function fromWireError(wire: WireError): ClaError {
  const code = (Object.values(ErrorCode) as string[]).includes(wire.code)
    ? (wire.code as ErrorCode)
    : ErrorCode.Internal;
  return new ClaError(code, wire.message, { retryable: wire.retryable, data: wire.data });
}

/** Describes a value for an error message: `` `0` (number) ``. */
export function describeValue(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  let shown: string;
  try {
    shown = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return `\`${shown}\` (${type})`;
}
