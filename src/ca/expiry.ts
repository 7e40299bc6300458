/**
 * When a certificate stops counting: it is valid through its notAfter second
 * (RFC 5280 §4.1.2.5 makes the validity period include both ends, and Go's
 * TLS and OpenSSL accept a certificate at that second). So a revocation still
 * applies to it then, a CRL still lists it, and it still counts as live. The
 * datastores' SQL states the same rule once (UNEXPIRED_AT in
 * src/store/certificate-sql.ts).
 */

export function unexpiredAt(notAfter: number, at: number): boolean {
  return notAfter >= at;
}

/**
 * What a revocation event records to say that it applied to records through
 * their notAfter second. Builds before it revoked only records with notAfter
 * after the revocation's time: a record expiring at that very second was
 * left as it was, and the audit verifier holds their events to that.
 */
export const THROUGH_NOT_AFTER = 'throughNotAfter';

/**
 * The least notAfter of a record a revocation event applied to, given its
 * data and the time it revoked at.
 */
export function leastNotAfterRevoked(data: Readonly<Record<string, unknown>>, at: number): number {
  return data[THROUGH_NOT_AFTER] === true ? at : at + 1;
}
