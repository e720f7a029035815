/**
 * Every frame of protocol version 1, as zod schemas of plain values (see protocol.md). A decoded frame is
 * trusted only after {@link parseFrame} has checked it against these schemas.
 */
import { z } from 'zod';
import { PROTOCOL_VERSION } from './version.ts';
import { adminFrameSchemas } from './frames-admin.ts';
import { busFrameSchemas } from './frames-bus.ts';
import { plainValueSchema, wireErrorSchema } from './frames-common.ts';

export { isPlainValue, plainValueSchema, wireErrorSchema } from './frames-common.ts';

const name = z.string().min(1).max(200);
const requestId = z.string().min(1).max(100);
const bytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array, { message: 'Expected binary data' });

/** Who the worker process is; shown in management views. */
export const agentInfoSchema = z.object({
  version: z.string().max(100),
  pid: z.number().int().nonnegative(),
  user: z.string().max(200),
  host: z.string().max(300),
  platform: z.string().max(100),
});

/** A command: a string runs through the shell, an argv array runs directly. */
export const commandSchema = z.union([z.string().min(1).max(100_000), z.array(z.string().max(100_000)).min(1).max(10_000)]);

/** What to run and how: the body of `exec` and of an admin `run`. */
export const execSpecSchema = z.object({
  cmd: commandSchema,
  cwd: z.string().max(4096).optional(),
  env: z.record(z.string(), z.string()).optional(),
  timeoutMs: z.number().int().positive().optional(),
});

const remotePath = z.string().min(1).max(4096);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'Expected a sha256 as 64 lowercase hex digits');

/** Run JavaScript on the worker: the body of `eval`. */
export const evalSpecSchema = z.object({
  code: z.string().min(1).max(1_000_000),
  timeoutMs: z.number().int().positive().optional(),
});

/** Receive a file on the worker: the body of `ship`. Its bytes follow as `chunk` frames within credit. */
export const shipSpecSchema = z.object({
  path: remotePath,
  mode: z.number().int().min(0).max(0o7777).optional(),
  size: z.number().int().nonnegative(),
  /** Absent: the sender hashes while it sends and puts the sha256 on the last `chunk` (issue 13). */
  sha256: sha256Hex.optional(),
});

/** Send a file from the worker: the body of `fetch`. */
export const fetchSpecSchema = z.object({ path: remotePath });

/** A yes/no question about the worker host: the body of `probe`. */
export const probeSpecSchema = z.object({
  check: z.enum(['file_exists', 'capable']),
  path: remotePath.optional(),
  tags: z.array(name).max(100).optional(),
});

/** Any job an admin client can ask the hub to run on a worker, discriminated on `kind`. */
export const jobSpecSchema = z.discriminatedUnion('kind', [
  execSpecSchema.extend({ kind: z.literal('exec') }),
  evalSpecSchema.extend({ kind: z.literal('eval') }),
  shipSpecSchema.extend({ kind: z.literal('ship') }),
  fetchSpecSchema.extend({ kind: z.literal('fetch') }),
  probeSpecSchema.extend({ kind: z.literal('probe') }),
]);

/** Which worker an admin request is for. */
export const targetSchema = z.object({
  worker: name.optional(),
  tags: z.array(name).max(100).optional(),
  env: name.optional(),
  project: name.optional(),
});

const base = <T extends string>(t: T) => ({ v: z.literal(PROTOCOL_VERSION), t: z.literal(t) });

// ---- worker -> hub ---------------------------------------------------------------------------------
/** A proof of a secret for this connection's `challenge` (src/protocol/auth-proof.ts): hex, ≤ 500 secret bytes. */
const proof = z.string().min(2).max(1000).regex(/^(?:[0-9a-f]{2})+$/, 'must be lower-case hex');
export const helloSchema = z.object({
  ...base('hello'),
  id: name,
  /** What `proof` proves: the worker's registration token, or the hub-wide pre-shared key (the Resoto `--psk`). */
  auth: z.enum(['token', 'psk']),
  /** Proof of the token or key for the connection's nonce; the secret itself never travels. */
  proof,
  tags: z.array(name).max(100),
  envs: z.array(name).max(100),
  caps: z.array(name).max(100),
  /** How many jobs the worker runs at once. */
  capacity: z.number().int().positive().max(10_000),
  agent: agentInfoSchema,
});
export const registerSchema = z.object({
  ...base('register'),
  /** Proof of a project's passkey (it selects the project). */
  passkeyProof: proof,
  id: name.optional(),
  /** Proof of the worker's current token, to add a project to an id that is already registered. */
  tokenProof: proof.optional(),
  agent: agentInfoSchema,
});
export const unregisterSchema = z.object({
  ...base('unregister'),
  id: name,
  /** Proof of the worker token. */
  proof,
  project: name.optional(),
});
export const outputSchema = z.object({
  ...base('output'),
  re: requestId,
  seq: z.number().int().nonnegative(),
  stream: z.enum(['stdout', 'stderr']),
  data: bytes,
});
export const exitSchema = z.object({
  ...base('exit'),
  re: requestId,
  code: z.number().int().nullable(),
  signal: z.string().max(50).nullable(),
  timedOut: z.boolean(),
  /** True when the job ended because of a `cancel`. */
  cancelled: z.boolean(),
  durationMs: z.number().nonnegative(),
});
export const startedSchema = z.object({ ...base('started'), re: requestId, pid: z.number().int().nonnegative() });
export const byeSchema = z.object({ ...base('bye'), reason: z.string().max(1000) });
/** The worker machine's state after a change, e.g. `connected.busy` (shown in management views). */
export const stateSchema = z.object({ ...base('state'), value: z.string().min(1).max(200) });

// ---- admin client -> hub ---------------------------------------------------------------------------
/** Proof of the hub's admin token. */
export const adminHelloSchema = z.object({ ...base('admin_hello'), proof });
export const runSchema = z.object({
  ...base('run'),
  id: requestId,
  target: targetSchema,
  job: jobSpecSchema,
  /** How long to wait for a matching worker to be free, in ms. */
  waitMs: z.number().int().nonnegative().optional(),
  /** Exec output bytes this client takes before it grants more with `credit`; absent: the hub paces by its socket. */
  outputCredit: z.number().int().positive().optional(),
  /**
   * The client can address a ship's or fetch's `chunk` frames by the job id from `dispatched` (issue 13):
   * the hub then forwards them without encoding them again. Older hubs ignore it and do not confirm.
   */
  chunksByJob: z.literal(true).optional(),
  /**
   * `false`: the client has no use for the job's `started` (the pid), so the hub does not forward it: one
   * frame and one wake of the client fewer per run, while the command runs (issue 13). Older hubs ignore
   * it and send `started` as before, so a client must take it either way.
   */
  started: z.literal(false).optional(),
});

// ---- hub -> worker / admin ---------------------------------------------------------------------------
/** The hub's first frame on every connection: the nonce that the client's first frame proves its secret for. */
export const challengeSchema = z.object({ ...base('challenge'), nonce: z.string().regex(/^[0-9a-f]{32,128}$/, 'must be 32-128 lower-case hex digits') });
export const welcomeSchema = z.object({
  ...base('welcome'),
  session: z.string().max(100),
  role: z.enum(['worker', 'admin']),
  projects: z.array(name),
  heartbeatMs: z.number().int().positive(),
  disabled: z.boolean(),
});
export const registeredSchema = z.object({
  ...base('registered'),
  id: name,
  /** A new worker's token, sealed under the passkey (auth-proof.ts); absent when a project was added. */
  sealedToken: proof.optional(),
  projects: z.array(name),
  added: name,
});
export const unregisteredSchema = z.object({ ...base('unregistered'), id: name, projects: z.array(name) });
export const execSchema = z.object({
  ...base('exec'),
  id: requestId,
  ...execSpecSchema.shape,
  /** Output bytes the worker may send before it waits for `credit`; absent: no output flow control. */
  outputCredit: z.number().int().positive().optional(),
  /**
   * `false`: nobody wants the job's `started` (the admin's `run` said `started: false`), so the worker does
   * not send it: one write of the worker and one wake of the hub fewer per job, beside the command (issue
   * 13). Older workers strip the field and send `started` as before; the hub drops it then.
   */
  started: z.literal(false).optional(),
});
export const evalSchema = z.object({ ...base('eval'), id: requestId, ...evalSpecSchema.shape });
export const shipSchema = z.object({ ...base('ship'), id: requestId, ...shipSpecSchema.shape });
export const fetchSchema = z.object({ ...base('fetch'), id: requestId, ...fetchSpecSchema.shape });
export const probeSchema = z.object({ ...base('probe'), id: requestId, ...probeSpecSchema.shape });
export const dispatchedSchema = z.object({
  ...base('dispatched'),
  re: requestId,
  worker: name,
  job: requestId,
  /** Answers `run.chunksByJob`: this run's `chunk` frames carry `re` = `job` both ways. */
  chunksByJob: z.literal(true).optional(),
});
export const disableSchema = z.object({ ...base('disable'), reason: z.string().max(1000).optional() });
export const enableSchema = z.object({ ...base('enable') });
export const shutdownSchema = z.object({ ...base('shutdown'), reason: z.string().max(1000).optional() });

// ---- both ways ---------------------------------------------------------------------------------------
/** File bytes of a `ship` (towards the worker) or `fetch` (from the worker), within granted credit. */
export const chunkSchema = z.object({
  ...base('chunk'),
  re: requestId,
  seq: z.number().int().nonnegative(),
  data: bytes,
  /** On the last chunk of a ship whose `ship` frame carried no sha256: the sha256 of all the bytes. */
  sha256: sha256Hex.optional(),
});
/** Permission to send `bytes` more file bytes for job `re` (flow control of ship and fetch). */
export const creditSchema = z.object({ ...base('credit'), re: requestId, bytes: z.number().int().positive() });
/** What a `fetch` will send: announced by the worker before its first chunk. */
export const fileSchema = z.object({
  ...base('file'),
  re: requestId,
  size: z.number().int().nonnegative(),
  mode: z.number().int().min(0).max(0o7777),
});
/** The outcome of an `eval`, `probe`, `ship` or `fetch`. */
export const resultSchema = z.object({
  ...base('result'),
  re: requestId,
  value: plainValueSchema,
  durationMs: z.number().nonnegative(),
});
export const cancelSchema = z.object({ ...base('cancel'), re: requestId });
export const errorFrameSchema = z.object({ ...base('error'), re: requestId.optional(), error: wireErrorSchema });

/** Every frame, discriminated on `t`. */
export const frameSchema = z.discriminatedUnion('t', [
  helloSchema,
  registerSchema,
  unregisterSchema,
  outputSchema,
  exitSchema,
  startedSchema,
  byeSchema,
  stateSchema,
  adminHelloSchema,
  runSchema,
  welcomeSchema,
  challengeSchema,
  registeredSchema,
  unregisteredSchema,
  execSchema,
  evalSchema,
  shipSchema,
  fetchSchema,
  probeSchema,
  chunkSchema,
  creditSchema,
  fileSchema,
  resultSchema,
  dispatchedSchema,
  disableSchema,
  enableSchema,
  shutdownSchema,
  cancelSchema,
  errorFrameSchema,
  ...busFrameSchemas,
  ...adminFrameSchemas,
]);

export type AgentInfo = z.infer<typeof agentInfoSchema>;
export type Command = z.infer<typeof commandSchema>;
export type ExecSpec = z.infer<typeof execSpecSchema>;
export type EvalSpec = z.infer<typeof evalSpecSchema>;
export type ShipSpec = z.infer<typeof shipSpecSchema>;
export type FetchSpec = z.infer<typeof fetchSpecSchema>;
export type ProbeSpec = z.infer<typeof probeSpecSchema>;
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobKind = JobSpec['kind'];
export type Target = z.infer<typeof targetSchema>;
export type Frame = z.infer<typeof frameSchema>;
/** The frame type names. */
export type FrameType = Frame['t'];
/** The frame whose `t` is `T`. */
export type FrameOf<T extends FrameType> = Extract<Frame, { t: T }>;
/** A frame without its `v` field, as code builds it before {@link frame} adds the version. */
export type FrameBody<T extends FrameType> = Omit<FrameOf<T>, 'v' | 't'>;

/** Builds a frame of type `t` with the current protocol version. */
export function frame<T extends FrameType>(t: T, body: FrameBody<T>): FrameOf<T> {
  return { v: PROTOCOL_VERSION, t, ...body } as unknown as FrameOf<T>;
}
