/**
 * The hub's one way in (issue 8): every admin operation is a named method with a zod schema of its
 * params, kept in one {@link MethodTable}. The admin websocket serves it with `call` / `watch` frames
 * (admin-session.ts), the admin HTTP API with `POST /api/call/<method>` (admin-http-routes.ts), and the
 * OpenAPI document is generated from the same schemas (openapi.ts). Hub parts and extensions contribute
 * their methods with {@link MethodTable.add}; nothing dispatches through a closed switch.
 *
 * A `call` answers once; a `watch` is a stream (a task's end, a workflow run's progress, worker
 * changes) that ends by itself or when the client cancels it.
 */
import type { Observable } from 'rxjs';
import type { z } from 'zod';
import { ClaError, ErrorCode, InvalidArgumentError } from '../../errors.ts';
import { isPlainValue } from '../../protocol/frames-common.ts';

/** One method answering once. */
export interface CallMethod<P extends z.ZodType = z.ZodType> {
  kind: 'call';
  /** `group.verb`, e.g. `workers.list`. */
  name: string;
  /** One sentence for people (OpenAPI summary, `cla-hub` errors). */
  summary: string;
  params: P;
  /** Only reads: the dashboard may call it with GET as well. @default false */
  readOnly?: boolean;
  call(params: z.output<P>): unknown;
}

/** One method answering with a stream of values. */
export interface WatchMethod<P extends z.ZodType = z.ZodType> {
  kind: 'watch';
  name: string;
  summary: string;
  params: P;
  watch(params: z.output<P>): Observable<unknown>;
}

export type MethodDefinition = CallMethod | WatchMethod;

/** Builds a call method with its params type inferred from the schema. */
export function callMethod<P extends z.ZodType>(definition: Omit<CallMethod<P>, 'kind'>): CallMethod {
  return { kind: 'call', ...definition } as CallMethod;
}

/** Builds a watch method with its params type inferred from the schema. */
export function watchMethod<P extends z.ZodType>(definition: Omit<WatchMethod<P>, 'kind'>): WatchMethod {
  return { kind: 'watch', ...definition } as WatchMethod;
}

const NAME = /^[a-z][a-zA-Z]*(\.[a-z][a-zA-Z]*)+$/;

/** The methods of one hub. */
export class MethodTable {
  private readonly methods = new Map<string, MethodDefinition>();

  /** Adds methods; a name given twice is a programming error. */
  add(...definitions: MethodDefinition[]): this {
    for (const definition of definitions) {
      if (!NAME.test(definition.name)) throw new ClaError(ErrorCode.Internal, `Method name \`${definition.name}\` is not group.verb`);
      if (this.methods.has(definition.name)) throw new ClaError(ErrorCode.Internal, `Method \`${definition.name}\` is defined twice`);
      this.methods.set(definition.name, definition);
    }
    return this;
  }

  /** Every method, sorted by name. */
  list(): MethodDefinition[] {
    return [...this.methods.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): MethodDefinition | undefined {
    return this.methods.get(name);
  }

  /** Runs a call method; the answer is a plain value (undefined fields dropped). */
  async call(name: string, params: unknown): Promise<unknown> {
    const method = this.find(name, 'call');
    return toPlain(await method.call(parseParams(method, params)));
  }

  /** Starts a watch method (subscribing starts it). */
  watch(name: string, params: unknown): Observable<unknown> {
    const method = this.find(name, 'watch');
    return method.watch(parseParams(method, params));
  }

  private find<K extends MethodDefinition['kind']>(name: string, kind: K): Extract<MethodDefinition, { kind: K }> {
    const method = this.methods.get(name);
    if (!method) {
      throw new ClaError(ErrorCode.UnknownMethod, `The hub has no method \`${name}\`. GET /api/openapi.json lists the methods of this hub; an older hub may lack a newer CLI's methods.`, {
        data: { method: name },
      });
    }
    if (method.kind !== kind) {
      throw new ClaError(ErrorCode.UnknownMethod, `\`${name}\` is a ${method.kind} method: send it as \`${method.kind}\`, not \`${kind}\`.`, { data: { method: name } });
    }
    return method as Extract<MethodDefinition, { kind: K }>;
  }
}

/** Checks params against the method's schema; a refusal names the first wrong field. */
export function parseParams(method: MethodDefinition, params: unknown): unknown {
  const result = method.params.safeParse(params ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.length > 0 ? `\`${issue.path.join('.')}\`` : 'the params';
  throw new InvalidArgumentError(`Bad params for \`${method.name}\`: ${where}: ${issue.message}`, {
    data: { method: method.name, field: issue.path.join('.') },
  });
}

/**
 * A plain copy of an answer: `undefined` fields dropped (msgpack and the frame schema accept only plain
 * values), binary kept, class instances refused.
 */
export function toPlain(value: unknown): unknown {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) Object.defineProperty(out, key, { value: toPlain(item), enumerable: true, writable: true, configurable: true });
  }
  if (!isPlainValue(out)) throw new ClaError(ErrorCode.Internal, 'A method answered with a value that is not plain');
  return out;
}
