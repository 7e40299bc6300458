/** Operators and auditors see agents; operators evict, ban and unban them. */
import type { FastifyInstance } from 'fastify';
import { callerLabel } from '../../ca/caller.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { agentJson, agentSchema } from '../json-views.js';
import { pageLimit } from '../edge.js';
import { limitSchema, nameSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';

const ACTIONS = ['evict', 'ban', 'unban'] as const;

export function agentAdminRoutes(app: FastifyInstance, s: ServerServices): void {
  app.get<{ Querystring: { limit?: string; cursor?: string } }>(
    '/v1/agents',
    {
      config: { action: 'agent.read' },
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: { limit: limitSchema, cursor: { type: 'string', minLength: 1, maxLength: 256 } } },
        response: {
          200: { type: 'object', required: ['agents', 'nextCursor'], properties: { agents: { type: 'array', items: agentSchema }, nextCursor: { type: ['string', 'null'] } } },
        },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      // Without limit or cursor, every agent, as before paging.
      const page = limit === undefined && cursor === undefined ? { items: await s.agents.list(), nextCursor: null } : await s.agents.page(cursor ?? null, pageLimit(limit));
      return { agents: page.items.map((a) => agentJson(a, s.trustDomain)), nextCursor: page.nextCursor };
    },
  );

  for (const action of ACTIONS) {
    app.post<{ Params: { name: string } }>(
      `/v1/agents/:name/${action}`,
      {
        config: { action: 'agent.write' },
        schema: {
          params: { type: 'object', required: ['name'], properties: { name: nameSchema } },
          response: { 200: agentSchema },
        },
      },
      async (request) => {
        const name = parseAgentName(request.params.name);
        const by = callerLabel(request.authentication.caller);
        const updated = await s.agents[action](name, by);
        return agentJson(updated, s.trustDomain);
      },
    );
  }
}
