/**
 * meshca's own identities live under spiffe://<td>/meshca/ (the server, agents,
 * administrators). Registration entries and mint may never grant them, or an
 * entry could turn a workload into an agent or an operator.
 */
import { InvalidInputError } from '../errors.js';
import type { DnsName } from '../identity/dns-name.js';
import { RESERVED_SEGMENT } from '../identity/meshca-identity.js';
import type { SpiffeId } from '../identity/spiffe-id.js';

export function assertNotReserved(id: SpiffeId): void {
  // In any case: "/MESHCA/admin/operator/x" would read, in the audit log and listings, as one of meshca's own.
  if (id.segments[0]?.toLowerCase() === RESERVED_SEGMENT) {
    throw new InvalidInputError('reserved_spiffe_id', `${id} is reserved for meshca's own identities (paths under /${RESERVED_SEGMENT}/)`);
  }
}

/**
 * The names clients dial the CA by belong to its serving certificate alone:
 * an SVID carrying one, or a wildcard covering one, would pass for the CA
 * with every client that checks only the host name (curl, most HTTPS
 * libraries), as an operator's or auditor's might.
 */
export function assertNoCaName(dnsNames: readonly DnsName[], caNames: readonly DnsName[]): void {
  for (const name of dnsNames) {
    const clash = caNames.find((ca) => covers(name, ca) || covers(ca, name));
    if (clash) {
      const what = name === clash ? 'is' : `matches ${clash}, which is`;
      throw new InvalidInputError('reserved_dns_name', `${name} ${what} a name the CA itself is reached by (its listen host or --serving-names)`);
    }
  }
}

/** Whether a certificate for `pattern` (a name, or "*." and one label's wildcard) is accepted for host `name`. */
function covers(pattern: DnsName, name: DnsName): boolean {
  if (pattern === name) return true;
  if (!pattern.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot) === pattern.slice(1);
}

/** The name the CA host's own socket acts under ("operator:local" in the audit log). */
export const LOCAL_OPERATOR_NAME = 'local';

/** Refuses an administrator name that would read, in the audit log, as the CA host's own socket. */
export function assertAdminNameFree(name: string): void {
  // In any case: "operator:Local" in the audit log reads as the CA host's own socket too.
  if (name.toLowerCase() === LOCAL_OPERATOR_NAME) {
    // Quoted as given: "LOCAL" refused as "local" reads as if the name had been misread.
    throw new InvalidInputError(
      'invalid_name',
      `name: "${name}" is reserved, in any letter case: the audit log names the CA host's own socket "operator:${LOCAL_OPERATOR_NAME}"`,
    );
  }
}
