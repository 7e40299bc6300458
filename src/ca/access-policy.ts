/**
 * Who may do what: the one table every route is checked against. A route
 * names its action; the server refuses anonymous callers with 401 and callers
 * whose role is not listed with 403.
 */
import type { Role } from './caller.js';

export type Action =
  | 'health.read'
  | 'bundle.read'
  | 'agent.attest'
  | 'agent.renew'
  | 'agent.sync'
  | 'workload.svid'
  | 'svid.mint'
  | 'token.create'
  | 'token.read'
  | 'token.revoke'
  | 'entry.read'
  | 'entry.write'
  | 'agent.read'
  | 'agent.write'
  | 'admin.credential'
  | 'admin.renew'
  | 'cert.read'
  | 'cert.revoke'
  | 'authority.read'
  | 'authority.write'
  | 'audit.read'
  | 'audit.write'
  | 'metrics.read'
  | 'crl.read';

/** "public": no credential needed (or, for attestation, the join token in the body is the credential). */
export type Access = 'public' | readonly Role[];

const READERS: readonly Role[] = ['operator', 'auditor'];

export const ACCESS: Readonly<Record<Action, Access>> = {
  'health.read': 'public',
  'bundle.read': 'public',
  'agent.attest': 'public',
  'agent.renew': ['agent'],
  'agent.sync': ['agent'],
  'workload.svid': ['agent'],
  'svid.mint': ['operator'],
  'token.create': ['operator'],
  'token.read': READERS,
  'token.revoke': ['operator'],
  'entry.read': READERS,
  'entry.write': ['operator'],
  'agent.read': READERS,
  'agent.write': ['operator'],
  'admin.credential': ['operator'],
  /** The holder of an admin credential, for that credential only (admin-renewal.ts). */
  'admin.renew': ['operator', 'auditor'],
  'cert.read': READERS,
  'cert.revoke': ['operator'],
  'authority.read': READERS,
  'authority.write': ['operator'],
  'audit.read': READERS,
  'audit.write': ['operator'],
  'metrics.read': READERS,
  'crl.read': ['operator', 'auditor', 'agent'],
};

export function isAllowed(action: Action, role: Role): boolean {
  const access = ACCESS[action];
  return access === 'public' || access.includes(role);
}
