/**
 * Frames of the admin method table (issue 8): an admin client `call`s a method and gets one `result`
 * (or an `error` with `re`), or `watch`es one and gets `event` frames until a final `result` (or
 * `error`); `cancel` with the watch's id stops it. Part of protocol v1; joined into `frameSchema`.
 */
import { z } from 'zod';
import { PROTOCOL_VERSION } from './version.ts';
import { plainValueSchema } from './frames-common.ts';

const requestId = z.string().min(1).max(100);
/** `group.verb`, e.g. `workers.list`. */
const methodName = z.string().min(1).max(100);
const base = <T extends string>(t: T) => ({ v: z.literal(PROTOCOL_VERSION), t: z.literal(t) });

/** Calls a method of the hub's method table; answered by `result` (`re` = `id`) or `error`. */
export const callSchema = z.object({ ...base('call'), id: requestId, method: methodName, params: plainValueSchema });
/** Starts a stream of a watch method; `event` frames follow, then `result` or `error`. */
export const watchSchema = z.object({ ...base('watch'), id: requestId, method: methodName, params: plainValueSchema });
/** One value of a watch. */
export const eventSchema = z.object({ ...base('event'), re: requestId, value: plainValueSchema });

export const adminFrameSchemas = [callSchema, watchSchema, eventSchema] as const;
