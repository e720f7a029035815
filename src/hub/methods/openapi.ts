/**
 * The OpenAPI 3.1 document of the admin HTTP API, generated from the method table's zod schemas (zod 4's
 * `z.toJSONSchema`; OpenAPI 3.1 schemas are JSON Schema 2020-12), served at `GET /api/openapi.json`.
 * Each call method is `POST /api/call/<method>` with its params as the JSON body; watch methods are
 * listed under `x-cla-watch-methods` (they stream over the admin websocket only).
 */
import { z } from 'zod';
import { PROTOCOL_VERSION } from '../../protocol/version.ts';
import type { MethodTable } from './method-table.ts';

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'retryable'],
      properties: {
        code: { type: 'string', description: 'An error code of protocol.md, e.g. UNKNOWN_METHOD, INVALID_ARGUMENT, BAD_ADMIN_TOKEN' },
        message: { type: 'string', description: 'What went wrong and what to do' },
        retryable: { type: 'boolean' },
        data: { type: 'object' },
      },
    },
  },
};

/** JSON Schema of a method's params, without the `$schema` key (OpenAPI sets the dialect once). */
function paramsSchema(schema: z.ZodType): Record<string, unknown> {
  // `io: 'input'`: defaults make a field optional for the caller.
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/** The document for the methods of one hub. */
export function openApiDocument(methods: MethodTable): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const watches: Array<{ name: string; summary: string; params: Record<string, unknown> }> = [];
  for (const method of methods.list()) {
    if (method.kind === 'watch') {
      watches.push({ name: method.name, summary: method.summary, params: paramsSchema(method.params) });
      continue;
    }
    paths[`/api/call/${method.name}`] = {
      post: {
        operationId: method.name,
        summary: method.summary,
        tags: [method.name.split('.')[0]],
        requestBody: { required: true, content: { 'application/json': { schema: paramsSchema(method.params) } } },
        responses: {
          '200': { description: 'The answer of the method', content: { 'application/json': { schema: {} } } },
          '400': { description: 'Bad params (INVALID_ARGUMENT) or another refusal', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          '401': { description: 'Missing or wrong admin token (BAD_ADMIN_TOKEN)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          '404': { description: 'No such method, or the thing named does not exist', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'cla-hub admin API',
      version: `${PROTOCOL_VERSION}`,
      description:
        'Every admin operation of the hub, one method each. Send `Authorization: Bearer <admin token>`; POST bodies are JSON. The same methods are served over the admin websocket as `call` frames (protocol.md).',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: errorSchema },
    },
    'x-cla-watch-methods': watches,
  };
}
