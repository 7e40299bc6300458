/** Registration entries: operators write them, operators and auditors read them. */
import type { FastifyInstance } from 'fastify';
import { callerLabel } from '../../ca/caller.js';
import type { EntryFields, WriteMode } from '../../ca/entry-service.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { SpiffeId } from '../../identity/spiffe-id.js';
import { dnsNamesField, pageLimit, ttlField } from '../edge.js';
import { entryJson, entrySchema } from '../json-views.js';
import { dnsNamesSchema, limitSchema, nameSchema, spiffeIdSchema, ttlSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';

/** An entry's cursor holds its agent, SPIFFE ID (up to 2048 bytes) and id, in base64url. */
const entryCursorSchema = { type: 'string', minLength: 1, maxLength: 3200 } as const;

interface EntryBody {
  agent?: string;
  spiffeId?: string;
  ttl?: string | number | null;
  dns?: string[];
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

const bodyProperties = {
  agent: nameSchema,
  spiffeId: spiffeIdSchema,
  ttl: { anyOf: [...ttlSchema.anyOf, { type: 'null' }] },
  dns: dnsNamesSchema,
} as const;

/**
 * `?dryRun=true`: every check of the write is made and nothing is stored
 * (200 with the entry as it would be; a created one's id is not kept). It
 * asks for the writer's role, as the write does.
 */
const dryRunQuery = { type: 'object', additionalProperties: false, properties: { dryRun: { enum: ['true', 'false'] } } } as const;
type DryRunQuery = { dryRun?: 'true' | 'false' };
const modeOf = (q: DryRunQuery): WriteMode => (q.dryRun === 'true' ? 'check' : 'write');

/** Parses the fields present in a body; absent fields stay absent (for PATCH). */
function fieldsFrom(body: EntryBody): Partial<EntryFields> {
  const fields: { -readonly [K in keyof EntryFields]?: EntryFields[K] } = {};
  if (body.agent !== undefined) fields.agent = parseAgentName(body.agent);
  if (body.spiffeId !== undefined) fields.spiffeId = SpiffeId.parseWorkload(body.spiffeId);
  if (body.ttl !== undefined) fields.ttl = body.ttl === null ? null : ttlField(body.ttl)!;
  if (body.dns !== undefined) fields.dnsNames = dnsNamesField(body.dns);
  return fields;
}

export function entryRoutes(app: FastifyInstance, s: ServerServices): void {
  app.post<{ Body: EntryBody; Querystring: DryRunQuery }>(
    '/v1/entries',
    {
      config: { action: 'entry.write' },
      schema: {
        querystring: dryRunQuery,
        body: { type: 'object', required: ['agent', 'spiffeId'], additionalProperties: false, properties: bodyProperties },
        response: { 200: entrySchema, 201: entrySchema },
      },
    },
    async (request, reply) => {
      const f = fieldsFrom(request.body);
      const mode = modeOf(request.query);
      const entry = await s.entries.create(
        { agent: f.agent!, spiffeId: f.spiffeId!, ttl: f.ttl ?? null, dnsNames: f.dnsNames ?? [] },
        callerLabel(request.authentication.caller),
        mode,
      );
      return reply.code(mode === 'check' ? 200 : 201).send(entryJson(entry));
    },
  );

  app.get<{ Querystring: { agent?: string; limit?: string; cursor?: string } }>(
    '/v1/entries',
    {
      config: { action: 'entry.read' },
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: { agent: nameSchema, limit: limitSchema, cursor: entryCursorSchema } },
        response: {
          200: { type: 'object', required: ['entries', 'nextCursor'], properties: { entries: { type: 'array', items: entrySchema }, nextCursor: { type: ['string', 'null'] } } },
        },
      },
    },
    async (request) => {
      // Parsed as the other listings parse it: a name no agent can have (".hidden", "..") is refused, not answered "no entries".
      const filter = request.query.agent === undefined ? {} : { agent: parseAgentName(request.query.agent) };
      const { query } = request;
      // Without limit or cursor, every entry, as before paging: a client that reads the listing whole (entry apply) still can.
      const page = query.limit === undefined && query.cursor === undefined
        ? { items: await s.entries.list(filter), nextCursor: null }
        : await s.entries.page(filter, query.cursor ?? null, pageLimit(query.limit));
      return { entries: page.items.map(entryJson), nextCursor: page.nextCursor };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/entries/:id',
    { config: { action: 'entry.read' }, schema: { params: idParams, response: { 200: entrySchema } } },
    async (request) => entryJson(await s.entries.get(request.params.id)),
  );

  app.patch<{ Params: { id: string }; Body: EntryBody; Querystring: DryRunQuery }>(
    '/v1/entries/:id',
    {
      config: { action: 'entry.write' },
      schema: {
        params: idParams,
        querystring: dryRunQuery,
        body: { type: 'object', minProperties: 1, additionalProperties: false, properties: bodyProperties },
        response: { 200: entrySchema },
      },
    },
    async (request) =>
      entryJson(await s.entries.update(request.params.id, fieldsFrom(request.body), callerLabel(request.authentication.caller), modeOf(request.query))),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/entries/:id',
    { config: { action: 'entry.write' }, schema: { params: idParams } },
    async (request, reply) => {
      await s.entries.delete(request.params.id, callerLabel(request.authentication.caller));
      return reply.code(204).send();
    },
  );
}
