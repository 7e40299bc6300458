/** Narrowing the authenticated caller where a route's access policy already guarantees its role. */
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../ca/caller.js';
import type { AgentName } from '../identity/agent-name.js';

export function agentOf(request: FastifyRequest): Extract<Caller, { role: 'agent' }> & { name: AgentName } {
  const caller = request.authentication.caller;
  if (caller.role !== 'agent') throw new Error(`route ${request.url} reached by a ${caller.role}; the access policy should allow agents only`);
  return caller as Extract<Caller, { role: 'agent' }> & { name: AgentName };
}
