/**
 * Join tokens: operators create and revoke them; operators and auditors list
 * the ones that can still admit an agent (never the token itself, which only
 * its creator ever sees).
 */
import type { FastifyInstance } from 'fastify';
import { callerLabel } from '../../ca/caller.js';
import type { TokenSummary } from '../../ca/join-token-service.js';
import { parseJoinTokenId } from '../../ca/join-tokens.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { isoTime, pageLimit, ttlField } from '../edge.js';
import { operatorCredential } from '../operator-ceiling.js';
import { limitSchema, nameSchema, tokenIdSchema, ttlSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';

const tokenSchema = {
  type: 'object',
  required: ['id', 'agent', 'createdAt', 'expiresAt', 'createdBy', 'creatorSerial'],
  properties: {
    id: { type: 'string' }, agent: { type: 'string' }, createdAt: { type: 'string' }, expiresAt: { type: 'string' }, createdBy: { type: 'string' },
    creatorSerial: { type: ['string', 'null'] },
  },
} as const;

function tokenJson(t: TokenSummary) {
  return { id: t.id, agent: t.agent, createdAt: isoTime(t.createdAt), expiresAt: isoTime(t.expiresAt), createdBy: t.createdBy, creatorSerial: t.creatorSerial };
}

export function tokenRoutes(app: FastifyInstance, s: ServerServices): void {
  app.post<{ Body: { agent: string; ttl?: string | number } }>(
    '/v1/tokens',
    {
      config: { action: 'token.create' },
      schema: {
        body: {
          type: 'object',
          required: ['agent'],
          additionalProperties: false,
          properties: { agent: nameSchema, ttl: ttlSchema },
        },
        response: {
          201: {
            type: 'object',
            required: ['token', 'id', 'agent', 'expiresAt'],
            properties: { token: { type: 'string' }, id: { type: 'string' }, agent: { type: 'string' }, expiresAt: { type: 'string' } },
          },
        },
      },
    },
    async (request, reply) => {
      const caller = request.authentication.caller;
      const created = await s.tokens.create(
        parseAgentName(request.body.agent),
        ttlField(request.body.ttl),
        { label: callerLabel(caller), credential: operatorCredential(request, caller) },
      );
      return reply.code(201).send({ token: created.token, id: created.id, agent: created.agent, expiresAt: isoTime(created.expiresAt) });
    },
  );

  app.get<{ Querystring: { agent?: string; limit?: string; cursor?: string } }>(
    '/v1/tokens',
    {
      config: { action: 'token.read' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { agent: nameSchema, limit: limitSchema, cursor: { type: 'string', minLength: 1, maxLength: 64 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['tokens', 'nextCursor'],
            properties: { tokens: { type: 'array', items: tokenSchema }, nextCursor: { type: ['string', 'null'] } },
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await s.tokens.list(q.agent === undefined ? undefined : parseAgentName(q.agent), q.cursor ?? null, pageLimit(q.limit));
      return { tokens: page.items.map(tokenJson), nextCursor: page.nextCursor };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/tokens/:id/revoke',
    {
      config: { action: 'token.revoke' },
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: tokenIdSchema } },
        response: {
          200: {
            type: 'object',
            required: ['id', 'agent', 'revokedAt'],
            properties: { id: { type: 'string' }, agent: { type: 'string' }, revokedAt: { type: 'string' } },
          },
        },
      },
    },
    async (request) => {
      const revoked = await s.tokens.revoke(parseJoinTokenId(request.params.id), callerLabel(request.authentication.caller));
      return { id: revoked.id, agent: revoked.agent, revokedAt: isoTime(revoked.revokedAt) };
    },
  );
}
