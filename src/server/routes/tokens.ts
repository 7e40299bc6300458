/** POST /v1/tokens: an operator creates a single-use join token for an agent name. */
import type { FastifyInstance } from 'fastify';
import { callerLabel } from '../../ca/caller.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { isoTime, ttlField } from '../edge.js';
import { nameSchema, ttlSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';

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
            required: ['token', 'agent', 'expiresAt'],
            properties: { token: { type: 'string' }, agent: { type: 'string' }, expiresAt: { type: 'string' } },
          },
        },
      },
    },
    async (request, reply) => {
      const created = await s.agents.createToken(
        parseAgentName(request.body.agent),
        ttlField(request.body.ttl),
        callerLabel(request.authentication.caller),
      );
      return reply.code(201).send({ token: created.token, agent: created.agent, expiresAt: isoTime(created.expiresAt) });
    },
  );
}
