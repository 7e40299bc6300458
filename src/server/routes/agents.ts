/** Operators and auditors see agents; operators evict, ban and unban them. */
import type { FastifyInstance } from 'fastify';
import { callerLabel } from '../../ca/caller.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { agentJson, agentSchema } from '../json-views.js';
import { nameSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';

const ACTIONS = ['evict', 'ban', 'unban'] as const;

export function agentAdminRoutes(app: FastifyInstance, s: ServerServices): void {
  app.get(
    '/v1/agents',
    {
      config: { action: 'agent.read' },
      schema: { response: { 200: { type: 'object', required: ['agents'], properties: { agents: { type: 'array', items: agentSchema } } } } },
    },
    async () => ({ agents: (await s.agents.list()).map((a) => agentJson(a, s.trustDomain)) }),
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
