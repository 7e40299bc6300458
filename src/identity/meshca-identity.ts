/**
 * meshca's own identities, under spiffe://<td>/meshca/: the CA server, its
 * agents and its administrators. The CA issues them (and keeps registration
 * entries from granting them, ca/reserved-ids.ts); the agent knows the CA,
 * and itself, by them.
 */
import type { AgentName } from './agent-name.js';
import { SpiffeId } from './spiffe-id.js';
import type { TrustDomain } from './trust-domain.js';

export const RESERVED_SEGMENT = 'meshca';

export type AdminRole = 'operator' | 'auditor';

/** The CA's serving certificate's identity: a path the CA issues to nothing else. */
export function serverSpiffeId(td: TrustDomain): SpiffeId {
  return SpiffeId.fromSegments(td, RESERVED_SEGMENT, 'server');
}

export function agentSpiffeId(td: TrustDomain, name: AgentName): SpiffeId {
  return SpiffeId.fromSegments(td, RESERVED_SEGMENT, 'agent', name);
}

export function adminSpiffeId(td: TrustDomain, role: AdminRole, name: string): SpiffeId {
  return SpiffeId.fromSegments(td, RESERVED_SEGMENT, 'admin', role, name);
}

/** The role and name of an administrator's SPIFFE ID (spiffe://<td>/meshca/admin/<role>/<name>); undefined for any other ID. */
export function adminIdentityOf(id: SpiffeId): { readonly role: AdminRole; readonly name: string } | undefined {
  const [first, second, role, name, ...rest] = id.segments;
  if (first !== RESERVED_SEGMENT || second !== 'admin' || name === undefined || rest.length > 0) return undefined;
  return role === 'operator' || role === 'auditor' ? { role, name } : undefined;
}

/**
 * Which of the CA's and the agents' identities a SPIFFE ID (as text, in any
 * trust domain) is: 'server' for .../meshca/server, 'agent' for
 * .../meshca/agent/<name>; undefined for any other, or for text that is no
 * SPIFFE ID.
 */
export function meshcaRoleOf(text: string): 'server' | 'agent' | undefined {
  const segments = reservedSegments(text);
  if (segments?.[0] === 'server' && segments.length === 1) return 'server';
  if (agentNameOf(text) !== undefined) return 'agent';
  return undefined;
}

/** The name in an agent's SPIFFE ID (as text, in any trust domain: .../meshca/agent/<name>); undefined for any other. */
export function agentNameOf(text: string): string | undefined {
  const segments = reservedSegments(text);
  return segments?.[0] === 'agent' && segments.length === 2 ? segments[1] : undefined;
}

/** The path segments after /meshca/ of a SPIFFE ID as text; undefined for text that is no SPIFFE ID, or one outside /meshca/. */
function reservedSegments(text: string): readonly string[] | undefined {
  let segments: readonly string[];
  try {
    segments = SpiffeId.parse(text).segments;
  } catch {
    return undefined;
  }
  return segments[0] === RESERVED_SEGMENT ? segments.slice(1) : undefined;
}
