/**
 * Every frame of protocol version 1, as zod schemas of plain values (see protocol.md). A decoded frame is
 * trusted only after {@link parseFrame} has checked it against these schemas.
 */
import { z } from 'zod';
import { PROTOCOL_VERSION } from './version.ts';

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

/** A wire error, also embedded in other frames. */
export const wireErrorSchema = z.object({
  code: z.string().min(1).max(100),
  message: z.string().max(10_000),
  retryable: z.boolean(),
  data: z.record(z.string(), z.unknown()).optional(),
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

/** Which worker an admin request is for. */
export const targetSchema = z.object({
  worker: name.optional(),
  tags: z.array(name).max(100).optional(),
  env: name.optional(),
  project: name.optional(),
});

const base = <T extends string>(t: T) => ({ v: z.literal(PROTOCOL_VERSION), t: z.literal(t) });

// ---- worker -> hub ---------------------------------------------------------------------------------
export const helloSchema = z.object({
  ...base('hello'),
  id: name,
  token: z.string().min(1).max(500),
  tags: z.array(name).max(100),
  envs: z.array(name).max(100),
  caps: z.array(name).max(100),
  /** How many jobs the worker runs at once. */
  capacity: z.number().int().positive().max(10_000),
  agent: agentInfoSchema,
});
export const registerSchema = z.object({
  ...base('register'),
  passkey: z.string().min(1).max(500),
  id: name.optional(),
  token: z.string().min(1).max(500).optional(),
  agent: agentInfoSchema,
});
export const unregisterSchema = z.object({
  ...base('unregister'),
  id: name,
  token: z.string().min(1).max(500),
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

// ---- admin client -> hub ---------------------------------------------------------------------------
export const adminHelloSchema = z.object({ ...base('admin_hello'), token: z.string().min(1).max(500) });
export const runSchema = z.object({
  ...base('run'),
  id: requestId,
  target: targetSchema,
  exec: execSpecSchema,
  /** How long to wait for a matching worker to be free, in ms. */
  waitMs: z.number().int().nonnegative().optional(),
});

// ---- hub -> worker / admin ---------------------------------------------------------------------------
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
  token: z.string().max(500),
  projects: z.array(name),
  added: name,
});
export const unregisteredSchema = z.object({ ...base('unregistered'), id: name, projects: z.array(name) });
export const execSchema = z.object({ ...base('exec'), id: requestId, ...execSpecSchema.shape });
export const dispatchedSchema = z.object({ ...base('dispatched'), re: requestId, worker: name, job: requestId });
export const disableSchema = z.object({ ...base('disable'), reason: z.string().max(1000).optional() });
export const enableSchema = z.object({ ...base('enable') });
export const shutdownSchema = z.object({ ...base('shutdown'), reason: z.string().max(1000).optional() });

// ---- both ways ---------------------------------------------------------------------------------------
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
  adminHelloSchema,
  runSchema,
  welcomeSchema,
  registeredSchema,
  unregisteredSchema,
  execSchema,
  dispatchedSchema,
  disableSchema,
  enableSchema,
  shutdownSchema,
  cancelSchema,
  errorFrameSchema,
]);

export type AgentInfo = z.infer<typeof agentInfoSchema>;
export type Command = z.infer<typeof commandSchema>;
export type ExecSpec = z.infer<typeof execSpecSchema>;
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
