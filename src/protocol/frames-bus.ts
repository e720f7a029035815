/**
 * Frames of the message bus (the Resoto model, see ../shared/seeds/resoto-worker.txt): actions are
 * broadcast to every subscriber, tasks go to exactly one worker under a lease. Part of protocol v1;
 * joined into `frameSchema` in frames.ts.
 */
import { z } from 'zod';
import { PROTOCOL_VERSION } from './version.ts';
import { plainValueSchema, wireErrorSchema } from './frames-common.ts';

const name = z.string().min(1).max(200);
const requestId = z.string().min(1).max(100);
const leaseToken = z.string().min(1).max(100);
/**
 * A task's data or result (protocol v3, issue 9): the value's msgpack encoding, carried as a msgpack `bin`,
 * so the hub stores and forwards the bytes without decoding or encoding them again. The worker decodes
 * the data once before its handler runs, and encodes the handler's result once.
 */
const taskValueBytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array && value.byteLength > 0, { message: 'Expected binary data: the msgpack encoding of a plain value' });
const base = <T extends string>(t: T) => ({ v: z.literal(PROTOCOL_VERSION), t: z.literal(t) });

/** One action subscription: the worker answers every broadcast of `action`. */
export const actionSubscriptionSchema = z.object({
  action: name,
  /** The step waits for this subscriber's answer (false: fire and forget). */
  waitForCompletion: z.boolean(),
  /** How long this subscriber may take, in ms. */
  timeoutMs: z.number().int().positive(),
});

/** One task handler: the worker can run tasks named `name` whose attributes match `filter`. */
export const taskHandlerSchema = z.object({
  name,
  /** attribute -> accepted values; a task matches when each filtered attribute has one of the values. */
  filter: z.record(z.string().max(200), z.array(z.string().max(500)).max(1000)),
});

/** A resource in a collected graph. */
export const resourceSchema = z.object({
  id: z.string().min(1).max(2000),
  kind: name,
  attrs: z.record(z.string(), plainValueSchema),
  tags: z.record(z.string(), z.string()),
  /** Ids of the resources this one depends on (its parents: a file depends on its folder). */
  edges: z.array(z.string().max(2000)).max(100_000),
});

// ---- worker -> hub ---------------------------------------------------------------------------------
export const subscribeSchema = z.object({
  ...base('subscribe'),
  subscriberId: name,
  actions: z.array(actionSubscriptionSchema).max(1000),
  tasks: z.array(taskHandlerSchema).max(1000),
  /** Tasks the worker runs at once; the hub keeps at most this many leased to it. */
  taskCapacity: z.number().int().positive().max(10_000),
});
export const actionDoneSchema = z.object({ ...base('action_done'), re: requestId });
export const actionErrorSchema = z.object({ ...base('action_error'), re: requestId, error: wireErrorSchema });
export const actionInfoSchema = z.object({
  ...base('action_info'),
  re: requestId,
  level: z.enum(['debug', 'info', 'warn', 'error']),
  message: z.string().max(10_000),
});
export const actionProgressSchema = z.object({
  ...base('action_progress'),
  re: requestId,
  current: z.number().nonnegative(),
  total: z.number().nonnegative(),
  message: z.string().max(10_000).optional(),
});
export const resourcesSchema = z.object({
  ...base('resources'),
  /** The `action` message this graph answers (a `collect`). */
  re: requestId,
  plugin: name,
  /** Batches of one graph are numbered from 0; `last` closes the graph, replacing the previous one. */
  batch: z.number().int().nonnegative(),
  last: z.boolean(),
  resources: z.array(resourceSchema).max(10_000),
});
export const resourcesFlagSchema = z.object({
  ...base('resources_flag'),
  re: requestId,
  plugin: name,
  /** Resources planned for cleanup (`desired.clean = true`). */
  clean: z.array(z.string().max(2000)).max(100_000),
});
/** The worker will not run a pushed lease (no matching handler any more, or stopping): back to pending. */
export const taskRejectedSchema = z.object({ ...base('task_rejected'), re: requestId, lease: leaseToken, reason: z.string().max(1000) });
export const taskRenewSchema = z.object({ ...base('task_renew'), re: requestId, lease: leaseToken });
export const taskDoneSchema = z.object({ ...base('task_done'), re: requestId, lease: leaseToken, result: taskValueBytes });
export const taskFailedSchema = z.object({ ...base('task_failed'), re: requestId, lease: leaseToken, error: wireErrorSchema });

// ---- hub -> worker ---------------------------------------------------------------------------------
export const actionSchema = z.object({
  ...base('action'),
  /** Message id: every answer carries it as `re`; a resent action keeps its id (handlers dedupe). */
  id: requestId,
  action: name,
  run: requestId,
  step: name,
  data: plainValueSchema,
});
export const abortSchema = z.object({ ...base('abort'), re: requestId, reason: z.string().max(1000) });
/** A task leased to this worker, with its data (issue 9: one round trip, push then done/failed/rejected). */
export const taskPushSchema = z.object({
  ...base('task_push'),
  id: requestId,
  name,
  attrs: z.record(z.string(), z.string()),
  data: taskValueBytes,
  lease: leaseToken,
  ttlMs: z.number().int().positive(),
});
export const taskRevokedSchema = z.object({ ...base('task_revoked'), re: requestId, reason: z.string().max(1000) });

/** Every bus frame, for the discriminated union in frames.ts. */
export const busFrameSchemas = [
  subscribeSchema,
  actionDoneSchema,
  actionErrorSchema,
  actionInfoSchema,
  actionProgressSchema,
  resourcesSchema,
  resourcesFlagSchema,
  taskRejectedSchema,
  taskRenewSchema,
  taskDoneSchema,
  taskFailedSchema,
  actionSchema,
  abortSchema,
  taskPushSchema,
  taskRevokedSchema,
] as const;

export type ActionSubscription = z.infer<typeof actionSubscriptionSchema>;
export type TaskHandlerSpec = z.infer<typeof taskHandlerSchema>;
export type Resource = z.infer<typeof resourceSchema>;
