/**
 * meshca's own identities live under spiffe://<td>/meshca/ (the server, agents,
 * administrators). Registration entries and mint may never grant them, or an
 * entry could turn a workload into an agent or an operator.
 */
import { InvalidInputError } from '../errors.js';
import type { AgentName } from '../identity/agent-name.js';
import { SpiffeId } from '../identity/spiffe-id.js';
import type { TrustDomain } from '../identity/trust-domain.js';

export const RESERVED_SEGMENT = 'meshca';

export function assertNotReserved(id: SpiffeId): void {
  if (id.segments[0] === RESERVED_SEGMENT) {
    throw new InvalidInputError('reserved_spiffe_id', `${id} is reserved for meshca's own identities (paths under /${RESERVED_SEGMENT}/)`);
  }
}

export function agentSpiffeId(td: TrustDomain, name: AgentName): SpiffeId {
  return SpiffeId.fromSegments(td, RESERVED_SEGMENT, 'agent', name);
}

export type AdminRole = 'operator' | 'auditor';

export function adminSpiffeId(td: TrustDomain, role: AdminRole, name: string): SpiffeId {
  return SpiffeId.fromSegments(td, RESERVED_SEGMENT, 'admin', role, name);
}
