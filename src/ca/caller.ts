import type { SpiffeId } from '../identity/spiffe-id.js';

/**
 * Who is asking, as established by authentication. Authorization decisions
 * are made on this value, never on raw certificates or socket details.
 */
export type Caller =
  | { readonly role: 'anonymous' }
  /** The CA host's operator, on the local socket. */
  | { readonly role: 'operator'; readonly name: string; readonly via: 'local' }
  /** A remote operator: `serial` names the admin credential it presented, which what it makes records (a token dies with it). */
  | { readonly role: 'operator'; readonly name: string; readonly via: 'mtls'; readonly serial: string }
  /** `serial` names the admin credential it presented, which it may renew (admin-renewal.ts). */
  | { readonly role: 'auditor'; readonly name: string; readonly serial: string }
  | { readonly role: 'agent'; readonly name: string; readonly spiffeId: SpiffeId; readonly serial: string }
  /** Holds a valid SVID of this trust domain but no meshca role: may reach only public routes. */
  | { readonly role: 'workload'; readonly name: string; readonly spiffeId: SpiffeId };

export type Role = Caller['role'];

/**
 * A stable label for records and logs: "agent:web-1", "operator:local",
 * "auditor:bob"; also of a role and name that will call (an admin
 * credential's holder, named in its issuance event).
 */
export function callerLabel(caller: Caller | { readonly role: Exclude<Role, 'anonymous'>; readonly name: string }): string {
  return caller.role === 'anonymous' ? 'anonymous' : `${caller.role}:${caller.name}`;
}

/** The CA acting on its own (start-up, scheduled rotation). */
export const SELF = 'meshca';
